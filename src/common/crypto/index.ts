export * from './keyring';
export * from './aead';
export * from './secret-box';
export * from './tenant-key.store';
export * from './crypto.service';
