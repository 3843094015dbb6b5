export {
  createVault,
  vaultKeys,
  VaultDecryptError,
  VaultKeyMissingError,
  MAX_VAULT_VALUE_BYTES,
} from './store.js';
export type {
  Vault,
  VaultKeys,
  VaultMeta,
  VaultEntry,
  VaultRecord,
  RotateReport,
} from './store.js';
export { createCipher, keyId, type Cipher, type Sealed } from './cipher.js';
