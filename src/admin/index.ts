export { createAdminPanel, type AdminPanel } from './panel.js';
export { hashPassword } from './security/passwords.js';
export type { AdminPanelOptions, AdminUser, AdminContext } from './options.js';
export type { Role } from './security/sessions.js';
