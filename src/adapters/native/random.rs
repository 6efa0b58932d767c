//! The native adapter's randomness: the operating system's CSPRNG, for new API key secrets.

use crate::core::api_key::{Entropy, ENTROPY_BYTES};
use crate::core::error::CreditError;

pub fn entropy() -> Result<Entropy, CreditError> {
    let mut bytes = [0u8; ENTROPY_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|error| CreditError::internal(format!("the OS random source failed: {error}")))?;
    Ok(Entropy(bytes))
}
