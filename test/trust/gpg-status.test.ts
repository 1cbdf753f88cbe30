/** What one signature's gpg status lines mean, as a table: the verdict gbp takes from them. */
import { describe, expect, it } from 'vitest';
import { readStatus } from '../../src/trust/gpg.js';

const FPR = '06B3A311BD775C280D22A9305D90EA06352177F6';
const SUBKEY = 'AAAABBBBCCCCDDDDEEEEFFFF0000111122223333';
const lines = (...l: string[]) => l.map((x) => `[GNUPG:] ${x}`).join('\n');

describe('gpg status lines', () => {
  it.each([
    ['a good signature: the primary key names the signer, not the signing subkey', lines('NEWSIG', 'GOODSIG 5D90EA06352177F6 Test', `VALIDSIG ${SUBKEY} 2026-11-22 1795317380 0 4 0 1 10 00 ${FPR}`), { status: 'good', fingerprint: FPR }],
    ['bytes changed after signing', lines('NEWSIG', 'BADSIG 5D90EA06352177F6 Test'), { status: 'bad', keyId: '5D90EA06352177F6', reason: 'the signature does not match the signed bytes' }],
    ['a key the keyring does not hold', lines('NEWSIG', 'ERRSIG 5D90EA06352177F6 1 10 00 1795317380 9 -', 'NO_PUBKEY 5D90EA06352177F6'), { status: 'unknown-key', keyId: '5D90EA06352177F6' }],
    ['an expired key', lines('NEWSIG', 'EXPKEYSIG 5D90EA06352177F6 Test', `VALIDSIG ${FPR} 2026-11-22 1795317380 0 4 0 1 10 00 ${FPR}`), { status: 'bad', keyId: '5D90EA06352177F6', reason: 'made by an expired key' }],
    ['a revoked key', lines('NEWSIG', 'REVKEYSIG 5D90EA06352177F6 Test'), { status: 'bad', keyId: '5D90EA06352177F6', reason: 'made by a revoked key' }],
    ['two signatures where one is expected', lines('NEWSIG', 'GOODSIG A x', 'NEWSIG', 'GOODSIG B y'), { status: 'none', reason: 'more than one signature' }],
    ['no signature at all', lines('NODATA 1'), { status: 'none', reason: 'no OpenPGP signature in it' }],
    ['GOODSIG without VALIDSIG is not enough', lines('NEWSIG', 'GOODSIG 5D90EA06352177F6 Test'), { status: 'none', reason: 'gpg found no valid signature' }],
  ])('%s', (_name, status, verdict) => expect(readStatus(status)).toEqual(verdict));
});
