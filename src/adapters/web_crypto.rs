//! Randomness on the JavaScript platforms (Workers, Node, browsers): `crypto.getRandomValues`,
//! the platform CSPRNG, read through js-sys (no getrandom backend configuration to get wrong).

use crate::core::api_key::{Entropy, ENTROPY_BYTES};
use crate::core::error::CreditError;
use wasm_bindgen::JsCast;

pub fn entropy() -> Result<Entropy, CreditError> {
    let unavailable = || CreditError::internal("crypto.getRandomValues is not available");
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).map_err(|_| unavailable())?;
    let fill = js_sys::Reflect::get(&crypto, &"getRandomValues".into())
        .map_err(|_| unavailable())?
        .dyn_into::<js_sys::Function>()
        .map_err(|_| unavailable())?;
    let array = js_sys::Uint8Array::new_with_length(ENTROPY_BYTES as u32);
    fill.call1(&crypto, &array).map_err(|_| unavailable())?;
    let mut bytes = [0u8; ENTROPY_BYTES];
    array.copy_to(&mut bytes);
    Ok(Entropy(bytes))
}
