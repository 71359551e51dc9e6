//! Webhook signatures and form decoding.
//!
//! Twilio: `X-Twilio-Signature` is the base64 HMAC-SHA1, keyed with the auth token, of the full
//! URL Twilio called followed by every POST parameter sorted by name, each name immediately
//! followed by its value. The generic gateway: `X-Teduh-Signature: sha256=<hex>`, the
//! HMAC-SHA256 of the raw body keyed with the shared secret, in both directions. Both are
//! compared in constant time.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;

/// Decoded `application/x-www-form-urlencoded` pairs, as bytes (`+` is a space, `%XX` a byte;
/// a stray `%` is kept as it is).
pub(super) type Form = Vec<(Vec<u8>, Vec<u8>)>;

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = input.get(i + 1).copied().and_then(hex_value);
                let lo = input.get(i + 2).copied().and_then(hex_value);
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            other => out.push(other),
        }
        i += 1;
    }
    out
}

/// Parses a form body into its pairs, in order.
pub(super) fn parse_form(body: &[u8]) -> Form {
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.iter().position(|b| *b == b'=') {
            Some(i) => (percent_decode(&pair[..i]), percent_decode(&pair[i + 1..])),
            None => (percent_decode(pair), Vec::new()),
        })
        .collect()
}

/// Whether `header` is Twilio's signature of a request to `url` with these POST parameters.
pub(super) fn twilio_valid(auth_token: &str, url: &str, params: &Form, header: Option<&str>) -> bool {
    let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else { return false };
    let Ok(claimed) = base64::engine::general_purpose::STANDARD.decode(header) else { return false };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()) else { return false };
    let mut sorted: Vec<&(Vec<u8>, Vec<u8>)> = params.iter().collect();
    sorted.sort();
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name);
        mac.update(value);
    }
    mac.verify_slice(&claimed).is_ok()
}

fn gateway_mac(secret: &str, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(body);
    Some(mac)
}

/// The `X-Teduh-Signature` value of `body`: `sha256=` and the lower-case hex HMAC-SHA256.
pub fn gateway_signature(secret: &str, body: &[u8]) -> String {
    let digest = gateway_mac(secret, body).map(|m| m.finalize().into_bytes().to_vec()).unwrap_or_default();
    let mut out = String::with_capacity(7 + digest.len() * 2);
    out.push_str("sha256=");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether `header` is a valid `X-Teduh-Signature` of `body`.
pub(super) fn gateway_valid(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex) = header.map(str::trim).and_then(|h| h.strip_prefix("sha256=")) else { return false };
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return false;
    }
    let mut claimed = Vec::with_capacity(32);
    for pair in hex.chunks(2) {
        match (pair.first().copied().and_then(hex_value), pair.get(1).copied().and_then(hex_value)) {
            (Some(hi), Some(lo)) => claimed.push(hi << 4 | lo),
            _ => return false,
        }
    }
    gateway_mac(secret, body).is_some_and(|mac| mac.verify_slice(&claimed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_plus_percent_and_stray_percent() {
        let form = parse_form(b"Body=Halo+kak%21&From=%2B62812&X=100%&Empty=&Bare");
        let text: Vec<(String, String)> = form
            .into_iter()
            .map(|(k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
            .collect();
        assert_eq!(
            text,
            vec![
                ("Body".into(), "Halo kak!".into()),
                ("From".into(), "+62812".into()),
                ("X".into(), "100%".into()),
                ("Empty".into(), String::new()),
                ("Bare".into(), String::new()),
            ]
        );
    }

    #[test]
    fn twilio_signature_matches_the_documented_example() {
        // Twilio's published example: auth token 12345, this URL and these parameters.
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params = parse_form(
            b"To=%2B18005551212&From=%2B12349013030&Digits=1234&Caller=%2B12349013030&CallSid=CA1234567890ABCDE",
        );
        assert!(twilio_valid("12345", url, &params, Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=")));
        assert!(!twilio_valid("12346", url, &params, Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=")));
        assert!(!twilio_valid(
            "12345",
            "https://mycompany.com/myapp.php",
            &params,
            Some("0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
        ));
        assert!(!twilio_valid("12345", url, &params, None));
        assert!(!twilio_valid("12345", url, &params, Some("not base64!")));
    }

    #[test]
    fn gateway_signatures_round_trip_and_reject_changes() {
        let sig = gateway_signature("0123456789abcdef", b"{\"id\":\"1\"}");
        assert!(sig.starts_with("sha256=") && sig.len() == 71);
        assert!(gateway_valid("0123456789abcdef", b"{\"id\":\"1\"}", Some(&sig)));
        assert!(gateway_valid(
            "0123456789abcdef",
            b"{\"id\":\"1\"}",
            Some(&sig.to_uppercase().replace("SHA256", "sha256"))
        ));
        assert!(!gateway_valid("0123456789abcdef", b"{\"id\":\"2\"}", Some(&sig)));
        assert!(!gateway_valid("another secret!!", b"{\"id\":\"1\"}", Some(&sig)));
        assert!(!gateway_valid("0123456789abcdef", b"{\"id\":\"1\"}", None));
        assert!(!gateway_valid("0123456789abcdef", b"{\"id\":\"1\"}", Some("sha256=zz")));
    }
}
