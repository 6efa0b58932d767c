//! API keys as users see them (API.md "API keys"): a public `id` that names a key everywhere
//! (paths, ledger, logs), and a secret shown once that only ever reaches the database as its
//! SHA-256.
//!
//! Secret: `fltr_` + 30 base62 characters (≈178 random bits) + 6 base62 characters of the CRC-32
//! of everything before them. The checksum is what lets a secret scanner (GitHub's, ours in
//! `revoke-leaked`) tell a real key from a string that merely starts with `fltr_`, offline. The
//! core draws nothing itself: adapters hand in bytes from the platform's CSPRNG.

use crate::core::digest::sha256_hex;
use crate::core::error::CreditError;
use crate::core::time::Timestamp;

pub const SECRET_PREFIX: &str = "fltr_";
pub const ID_PREFIX: &str = "key_";
const BODY_LENGTH: usize = 30;
const CHECKSUM_LENGTH: usize = 6;
pub const SECRET_LENGTH: usize = SECRET_PREFIX.len() + BODY_LENGTH + CHECKSUM_LENGTH;
/// API.md: `start` is the first 9 characters of the secret.
pub const START_LENGTH: usize = 9;
/// Random bytes one new key consumes: its secret (rejection-sampled, so with headroom) and its id.
pub const ENTROPY_BYTES: usize = 64;
const ID_HEX_LENGTH: usize = 20;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A newly issued key: the secret to show once, and what the database keeps of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedSecret {
    pub secret: String,
    pub hash: String,
    pub start: String,
}

/// Bytes from the platform CSPRNG, enough for one key.
#[derive(Clone, PartialEq, Eq)]
pub struct Entropy(pub [u8; ENTROPY_BYTES]);

impl std::fmt::Debug for Entropy {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Entropy(..)")
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn checksum(head: &str) -> String {
    let mut value = crc32(head.as_bytes());
    let mut digits = [b'0'; CHECKSUM_LENGTH];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&b| b as char).collect()
}

/// The secret's SHA-256, lowercase hex: the only form the database sees of a secret.
pub fn hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// A new secret from `entropy`'s first bytes: each byte below 248 (= 4·62) picks one base62
/// character without bias; the rest are skipped.
pub fn issue_secret(entropy: &Entropy) -> Result<IssuedSecret, CreditError> {
    let body: String = entropy.0[..ENTROPY_BYTES - ID_HEX_LENGTH / 2]
        .iter()
        .filter(|&&byte| byte < 248)
        .take(BODY_LENGTH)
        .map(|&byte| BASE62[usize::from(byte % 62)] as char)
        .collect();
    if body.len() < BODY_LENGTH {
        return Err(CreditError::internal("not enough random bytes for an API key"));
    }
    let head = format!("{SECRET_PREFIX}{body}");
    let secret = format!("{head}{}", checksum(&head));
    Ok(IssuedSecret { hash: hash(&secret), start: secret[..START_LENGTH].to_string(), secret })
}

/// A new public id (`key_` + 20 hex digits from `entropy`'s last bytes). Not a secret: unique only.
pub fn issue_id(entropy: &Entropy) -> String {
    let tail = &entropy.0[ENTROPY_BYTES - ID_HEX_LENGTH / 2..];
    format!("{ID_PREFIX}{}", crate::core::digest::hex(tail))
}

/// The public id a key written the seed's way (its secret in `api_key_credits.api_key`) takes when
/// it is adopted: `key_` + the first 20 hex digits of the secret's SHA-256, as `adopt` computes it
/// in SQL, so it is known before and after adoption alike.
pub fn legacy_id(secret: &str) -> String {
    format!("{ID_PREFIX}{}", &hash(secret)[..20])
}

/// Has this string the shape and checksum of one of our secrets? (A scanner's question.)
pub fn is_secret(text: &str) -> bool {
    text.len() == SECRET_LENGTH
        && text.starts_with(SECRET_PREFIX)
        && text.bytes().skip(SECRET_PREFIX.len()).all(|b| b.is_ascii_alphanumeric())
        && checksum(&text[..SECRET_LENGTH - CHECKSUM_LENGTH]) == text[SECRET_LENGTH - CHECKSUM_LENGTH..]
}

/// Anything that starts like a secret. Such a value is refused where an id belongs, and never
/// echoed back or logged.
pub fn resembles_secret(text: &str) -> bool {
    text.get(..SECRET_PREFIX.len()).is_some_and(|head| head.eq_ignore_ascii_case(SECRET_PREFIX))
}

/// `text` with everything shaped like one of our secrets cut to `fltr_…`: error messages quote
/// what a caller sent (an unknown field, a bad value), and a pasted secret must never come back
/// in an answer or reach a log.
pub fn redact(text: &str) -> std::borrow::Cow<'_, str> {
    let lowered = text.to_ascii_lowercase();
    if !lowered.contains(SECRET_PREFIX) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.to_ascii_lowercase().find(SECRET_PREFIX) {
        let tail = &rest[at + SECRET_PREFIX.len()..];
        let cut = tail.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(tail.len());
        // `fltr_` followed by nothing secret (already redacted, or the bare prefix) stays.
        out.push_str(&rest[..at + SECRET_PREFIX.len()]);
        if cut > 0 {
            out.push('…');
        }
        rest = &tail[cut..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// How a key is shown: `start` then `…` (API.md "Accounts").
pub fn masked(start: &str) -> String {
    format!("{start}…")
}

/// A key's public id from a path, a body or the CLI: `key_` and letters, digits, `_` or `-`. A
/// pasted secret of ours is `invalid_request`, with a message that never repeats it; anything
/// else not shaped like an id (a hand-made secret of the seed's era among them) names no key:
/// `not_found`, without a lookup, so such a value is never matched against a row.
pub fn key_id(field: &str, text: &str) -> Result<String, CreditError> {
    if resembles_secret(text) {
        return Err(CreditError::invalid_request(format!(
            "{field} takes a key's public id (key_…), not its secret; the secret was not stored or logged — \
             if it was shared by mistake, rotate the key"
        )));
    }
    crate::core::validate::identifier(field, text)?;
    let shaped =
        text.starts_with(ID_PREFIX) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !shaped {
        return Err(CreditError::not_found("no such API key"));
    }
    Ok(text.to_string())
}

/// What identifies a key in a request: its public id (service, CLI, paths) or a presented
/// secret (end users). A secret travels on as its hash; the plaintext is kept only for the
/// one-time adoption of a key row written the seed's way (`sql::ops::api_keys::ADOPT_SECRET_SQL`).
#[derive(Clone, PartialEq, Eq)]
pub enum KeyRef {
    Id(String),
    Secret {
        secret: String,
        hash: String,
    },
    /// A secret replaced by a rotation and still in its grace, as `RESOLVE_SQL` found it: a debit
    /// matches it as the key's previous hash with the grace checked on the locked row, so a
    /// rotation that ends the grace is never overtaken.
    Rotated {
        hash: String,
    },
}

impl KeyRef {
    pub fn secret(secret: &str) -> Self {
        KeyRef::Secret { secret: secret.to_string(), hash: hash(secret) }
    }

    /// A key as an operator gives it (CLI `--api-key`, npm `apiKey`): a value shaped like a
    /// secret (or not shaped like an id, as the seed's hand-made keys are) is a secret; `key_…`
    /// is an id.
    pub fn given(text: &str) -> Self {
        if text.starts_with(ID_PREFIX) && !is_secret(text) {
            KeyRef::Id(text.to_string())
        } else {
            KeyRef::secret(text)
        }
    }
}

impl std::fmt::Debug for KeyRef {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyRef::Id(id) => write!(formatter, "KeyRef::Id({id:?})"),
            KeyRef::Secret { hash, .. } => write!(formatter, "KeyRef::Secret(sha256 {}…)", &hash[..8.min(hash.len())]),
            KeyRef::Rotated { hash } => write!(formatter, "KeyRef::Rotated(sha256 {}…)", &hash[..8.min(hash.len())]),
        }
    }
}

/// Longest key name; names are for people, shown in lists.
pub const NAME_LENGTH_MAX: usize = 64;
/// The furthest `expires_at` may lie ahead: ten years (anything later is a typo, or a key that
/// should simply not expire).
pub const EXPIRY_MAX_SECONDS: i64 = 10 * 366 * 86_400;
/// The longest grace a rotated-out secret keeps working: seven days.
pub const GRACE_MAX_SECONDS: i64 = 7 * 86_400;

/// Invisible characters that can make a name read as another (bidirectional overrides and
/// isolates, zero-width characters, the BOM): refused in names, which are shown to people.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A key's name: 1–64 characters, no control or invisible formatting characters.
pub fn name(text: &str) -> Result<String, CreditError> {
    let trimmed = text.trim();
    if trimmed.is_empty()
        || trimmed.chars().count() > NAME_LENGTH_MAX
        || trimmed.chars().any(|c| c.is_control() || invisible(c))
    {
        return Err(CreditError::invalid_request(format!(
            "name must be 1-{NAME_LENGTH_MAX} characters without control or invisible formatting characters"
        )));
    }
    Ok(trimmed.to_string())
}

/// A daily or monthly limit: 0 (the key may not spend) up to the `integer` maximum.
pub fn limit(field: &str, value: i64) -> Result<i64, CreditError> {
    if !(0..=crate::core::validate::AMOUNT_MAX).contains(&value) {
        return Err(CreditError::invalid_request(format!(
            "{field} must be between 0 and {} (or null for no limit), got {value}",
            crate::core::validate::AMOUNT_MAX
        )));
    }
    Ok(value)
}

/// `expires_at`: strictly in the future, at most ten years ahead.
pub fn expiry(text: &str, now: Timestamp) -> Result<Timestamp, CreditError> {
    let at = Timestamp::parse(text).map_err(|_| {
        CreditError::invalid_request("expires_at must be an RFC 3339 UTC time, e.g. 2027-01-01T00:00:00Z")
    })?;
    if at <= now {
        return Err(CreditError::invalid_request("expires_at must be in the future"));
    }
    if at.0 - now.0 > EXPIRY_MAX_SECONDS * 1_000_000 {
        return Err(CreditError::invalid_request("expires_at must be at most ten years ahead"));
    }
    Ok(at)
}

/// `grace_seconds` of a rotation: 0 (the old secret stops at once) to seven days.
pub fn grace(seconds: i64) -> Result<i64, CreditError> {
    if !(0..=GRACE_MAX_SECONDS).contains(&seconds) {
        return Err(CreditError::invalid_request(format!(
            "grace_seconds must be between 0 and {GRACE_MAX_SECONDS}, got {seconds}"
        )));
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn entropy(seed: u8) -> Entropy {
        let mut bytes = [0u8; ENTROPY_BYTES];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = (i as u8).wrapping_mul(37).wrapping_add(seed);
        }
        Entropy(bytes)
    }

    #[test]
    fn issued_secrets_have_the_contract_shape_and_pass_their_checksum() {
        let issued = issue_secret(&entropy(1)).unwrap();
        assert_eq!(issued.secret.len(), SECRET_LENGTH);
        assert!(issued.secret.starts_with("fltr_"));
        assert!(is_secret(&issued.secret));
        assert_eq!(issued.start, issued.secret[..9]);
        assert_eq!(issued.hash, sha256_hex(issued.secret.as_bytes()));
        assert_ne!(issue_secret(&entropy(2)).unwrap().secret, issued.secret);
        let id = issue_id(&entropy(1));
        assert!(id.starts_with("key_") && id.len() == 24);
    }

    #[test]
    fn a_changed_character_fails_the_checksum() {
        let secret = issue_secret(&entropy(3)).unwrap().secret;
        for at in [5, 20, SECRET_LENGTH - 1] {
            let mut bytes = secret.clone().into_bytes();
            bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
            assert!(!is_secret(&String::from_utf8(bytes).unwrap()), "{at}");
        }
        assert!(!is_secret("fltr_short"));
        assert!(!is_secret(&secret.replace("fltr_", "FLTR_")));
    }

    #[test]
    fn too_few_unbiased_bytes_is_an_error_not_a_weak_key() {
        assert_eq!(issue_secret(&Entropy([255; ENTROPY_BYTES])).unwrap_err().code(), "internal");
    }

    #[test]
    fn a_secret_where_an_id_belongs_is_refused_without_repeating_it() {
        let secret = issue_secret(&entropy(4)).unwrap().secret;
        let error = key_id("id", &secret).unwrap_err();
        assert_eq!(error.code(), "invalid_request");
        assert!(!error.to_string().contains(&secret[5..]));
        assert_eq!(key_id("id", "key_0123").unwrap(), "key_0123");
        assert!(key_id("id", "FLTR_abc").is_err());
    }

    #[test]
    fn secrets_are_cut_from_any_text() {
        let secret = issue_secret(&entropy(5)).unwrap().secret;
        let message = format!("unknown field \"{secret}\", and {}!", secret.to_uppercase());
        let redacted = redact(&message);
        assert!(!redacted.contains(&secret[5..]) && !redacted.contains(&secret[5..].to_uppercase()), "{redacted}");
        assert_eq!(redact("unknown field \"amnt\""), "unknown field \"amnt\"");
        assert_eq!(redact("a fltr_ at the end fltr_"), "a fltr_ at the end fltr_");
        assert_eq!(redact(&redacted), redacted, "idempotent");
        assert!(name("evil\u{202E}gnp.exe").is_err() && name("zero\u{200B}width").is_err() && name("ok ✓").is_ok());
        assert_eq!(key_id("id", "sk_live_handmade").unwrap_err().code(), "not_found", "never looked up");
        assert_eq!(key_id("id", "key_a b").unwrap_err().code(), "not_found");
        assert_eq!(key_id("id", "a\u{0}b").unwrap_err().code(), "invalid_request");
    }

    #[test]
    fn cli_values_are_told_apart_and_debug_never_shows_a_secret() {
        assert_eq!(KeyRef::given("key_abc"), KeyRef::Id("key_abc".into()));
        let legacy = KeyRef::given("sk_live_handmade");
        assert!(matches!(legacy, KeyRef::Secret { .. }));
        assert!(!format!("{legacy:?}").contains("handmade"));
    }
}
