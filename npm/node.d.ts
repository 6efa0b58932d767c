// Node entry: everything the admin module exports (the edge API plus migrations), already initialised.
export * from './admin/fltr_credits_admin.js';
