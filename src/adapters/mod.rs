//! I/O lives here and only here. Each adapter runs the core's statements over one transport.

#[cfg(feature = "js")]
pub mod js;
#[cfg(feature = "native")]
pub mod native;
#[cfg(any(feature = "native", feature = "worker"))]
pub mod postgres;
#[cfg(any(feature = "js", feature = "worker"))]
pub mod web_crypto;
#[cfg(feature = "worker")]
pub mod worker;
