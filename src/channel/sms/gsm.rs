//! SMS encodings and segments: which alphabet a text needs (GSM-7 or UCS-2), how many segments
//! it costs, and how to cut it into messages of a few segments at word boundaries.
//!
//! GSM-7 (3GPP TS 23.038 default alphabet) carries 160 septets in one segment or 153 per part of
//! a concatenated message; characters of the extension table (`€ [ ] { } ^ ~ \ |` and form feed)
//! take two septets, and the pair is never cut between two parts. Any other character makes the
//! whole message UCS-2: 70 UTF-16 units in one segment or 67 per part, and a surrogate pair
//! (emoji) is never cut between two parts either.

/// The alphabet an SMS is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// The GSM 03.38 default alphabet (with its extension table), 7 bits a character.
    Gsm7,
    /// UCS-2 / UTF-16, 16 bits a unit: needed as soon as one character is outside GSM-7.
    Ucs2,
}

/// Septets a character takes in GSM-7: 1 in the basic table, 2 in the extension table, `None`
/// when GSM-7 cannot carry it.
pub fn gsm7_septets(c: char) -> Option<usize> {
    match c {
        'A'..='Z' | 'a'..='z' | '0'..='9' => Some(1),
        ' ' | '!' | '"' | '#' | '$' | '%' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | '-' | '.' | '/' => {
            Some(1)
        }
        ':' | ';' | '<' | '=' | '>' | '?' | '@' | '_' | '\n' | '\r' => Some(1),
        '£' | '¥' | 'è' | 'é' | 'ù' | 'ì' | 'ò' | 'Ç' | 'Ø' | 'ø' | 'Å' | 'å' | 'Æ' | 'æ' | 'ß' | 'É' => {
            Some(1)
        }
        'Δ' | 'Φ' | 'Γ' | 'Λ' | 'Ω' | 'Π' | 'Ψ' | 'Σ' | 'Θ' | 'Ξ' => Some(1),
        '¤' | '¡' | 'Ä' | 'Ö' | 'Ñ' | 'Ü' | '§' | '¿' | 'ä' | 'ö' | 'ñ' | 'ü' | 'à' => Some(1),
        '\u{0C}' | '^' | '{' | '}' | '\\' | '[' | ']' | '~' | '|' | '€' => Some(2),
        _ => None,
    }
}

/// The alphabet `text` must be sent in.
///
/// ```
/// use teduh::channel::sms::{Encoding, encoding};
/// assert_eq!(encoding("Apa kabar? Harga: €5 [promo]"), Encoding::Gsm7);
/// assert_eq!(encoding("Kata “aman”"), Encoding::Ucs2);
/// ```
pub fn encoding(text: &str) -> Encoding {
    if text.chars().all(|c| gsm7_septets(c).is_some()) { Encoding::Gsm7 } else { Encoding::Ucs2 }
}

/// Limits of an encoding: units in a single segment, units per part of a longer message.
fn limits(encoding: Encoding) -> (usize, usize) {
    match encoding {
        Encoding::Gsm7 => (160, 153),
        Encoding::Ucs2 => (70, 67),
    }
}

/// Units a character takes in `encoding` (septets, or UTF-16 units).
fn units(c: char, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Gsm7 => gsm7_septets(c).unwrap_or(1),
        Encoding::Ucs2 => c.len_utf16(),
    }
}

/// Segments `text` costs as one SMS. An empty text still takes one.
///
/// ```
/// use teduh::channel::sms::segments;
/// assert_eq!(segments(&"a".repeat(160)), 1);
/// assert_eq!(segments(&"a".repeat(161)), 2);
/// assert_eq!(segments(&"é".repeat(160)), 1); // é is in GSM-7
/// assert_eq!(segments(&"á".repeat(71)), 2); // á is not: UCS-2
/// ```
pub fn segments(text: &str) -> usize {
    let encoding = encoding(text);
    let (single, part) = limits(encoding);
    let total: usize = text.chars().map(|c| units(c, encoding)).sum();
    if total <= single {
        return 1;
    }
    // Pack the parts as a phone would: a two-unit character that does not fit in what is left
    // of a part starts the next one.
    let mut count = 1;
    let mut used = 0;
    for c in text.chars() {
        let u = units(c, encoding);
        if used + u > part {
            count += 1;
            used = 0;
        }
        used += u;
    }
    count
}

/// A word and the whitespace before it.
#[derive(Debug, Clone)]
struct Token {
    sep: String,
    word: String,
}

fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut sep = String::new();
    let mut word = String::new();
    for c in text.chars() {
        if c.is_whitespace() {
            if !word.is_empty() {
                tokens.push(Token { sep: std::mem::take(&mut sep), word: std::mem::take(&mut word) });
            }
            sep.push(c);
        } else {
            word.push(c);
        }
    }
    if !word.is_empty() {
        tokens.push(Token { sep, word });
    }
    tokens
}

/// The text of `tokens` joined with their inner whitespace (the first one's is dropped).
fn join(tokens: &[Token]) -> String {
    let mut out = String::new();
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            out.push_str(&t.sep);
        }
        out.push_str(&t.word);
    }
    out
}

/// Cuts a word too long for one message into chunks of at most `max` segments each.
fn hard_split(word: &str, max: usize) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    for c in word.chars() {
        current.push(c);
        if segments(&current) > max {
            current.pop();
            chunks.push(std::mem::take(&mut current));
            current.push(c);
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Splits `text` into messages of at most `max_segments` segments each (at least one), cutting
/// at whitespace, preferably at a line break when that keeps a message at least half full. A
/// single word longer than a message is cut where it must. Whitespace at the cuts and around the
/// text is dropped; a blank text gives no message.
///
/// ```
/// use teduh::channel::sms::{segments, split};
/// let text = "kata ".repeat(100);
/// let parts = split(&text, 2);
/// assert_eq!(parts.len(), 2);
/// assert!(parts.iter().all(|p| segments(p) <= 2 && !p.ends_with(' ')));
/// ```
pub fn split(text: &str, max_segments: usize) -> Vec<String> {
    let max = max_segments.max(1);
    let text = text.trim();
    if text.is_empty() {
        return Vec::new();
    }
    if segments(text) <= max {
        return vec![text.to_string()];
    }
    let mut tokens = tokenize(text);
    let mut parts = Vec::new();
    let mut start = 0;
    while start < tokens.len() {
        // A word that cannot fit in a message alone: emit its full chunks, keep the rest as the
        // start of the next message so the words after it can join.
        if segments(&tokens[start].word) > max {
            let mut chunks = hard_split(&tokens[start].word, max);
            let last = chunks.pop().unwrap_or_default();
            parts.extend(chunks);
            tokens[start].word = last;
            continue;
        }
        let mut end = start + 1;
        while end < tokens.len() && segments(&join(&tokens[start..=end])) <= max {
            end += 1;
        }
        if end < tokens.len() {
            // Prefer ending at a line break (a menu line stays whole) if the message stays at
            // least half as long as it could be.
            let full = join(&tokens[start..end]).chars().count();
            if let Some(k) = (start + 1..end).rev().find(|&k| {
                tokens[k].sep.contains('\n') && join(&tokens[start..k]).chars().count() * 2 >= full
            }) {
                end = k;
            }
        }
        parts.push(join(&tokens[start..end]));
        start = end;
    }
    parts
}
