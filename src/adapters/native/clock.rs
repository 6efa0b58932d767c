//! The native adapter's clock: the one place native code reads the time the core is handed.

use crate::core::time::Timestamp;

pub fn now() -> Timestamp {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Timestamp(since_epoch.as_micros() as i64)
}
