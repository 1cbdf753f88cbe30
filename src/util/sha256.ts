/** The SHA-256 of bytes in memory, as lowercase hex: every content identity in a store is one. */
import { createHash } from 'node:crypto';

export const sha256Hex = (data: Buffer | Uint8Array | string): string => createHash('sha256').update(data).digest('hex');
