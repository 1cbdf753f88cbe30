/**
 * The workplace's read-only reference material (Portage-written fixtures, Portage itself):
 * `$GBP_SHARED` when set (scripts/test.sh sets it), else ../shared beside the repository.
 */
import { resolve } from 'node:path';

export const SHARED = resolve(process.env.GBP_SHARED ?? resolve(__dirname, '../../../shared'));
