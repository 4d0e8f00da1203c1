export { type ServerConfig, type ServerConfigInput, serverConfig } from './config.js';
export { ADMIN_TOKEN_FILE, type SlipwayServer, type StartServerOptions, startServer } from './server.js';
