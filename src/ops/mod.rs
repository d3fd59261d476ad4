//! Operations: the alert log receiver, the monitoring role the PostgreSQL exporter signs in
//! as, and (later in this module) the health check and the test alert.

pub mod admin_access;
pub mod after_apply;
pub mod alert_log;
pub mod alert_test;
pub mod http;
pub mod monitor_role;
