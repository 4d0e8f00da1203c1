/** Layout of the server's data directory, shared by the server (writes) and the CLI (reads). */
export const DEFAULT_DATA_DIR = '.slipway';
export const ADMIN_TOKEN_FILE = 'admin.token';
export const DEFAULT_PORT = 8420;
