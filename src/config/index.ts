export { defineConfig, BROKERS, type HeraldConfig, type ContextConfig, type DatabaseConfig, type SubscriptionConfig, type RelayConfig, type ConsumerConfig, type TransportConfig, type AdminConfig, type AdminUserConfig, type MetricsConfig, type Ref } from './types.js';
export { loadConfig, findConfigFile, checkConfig, CONFIG_FILES, MAX_CONFIG_BYTES, type LoadedConfig } from './load.js';
export { openApp, type HeraldApp, type OpenAppOptions } from './app.js';
