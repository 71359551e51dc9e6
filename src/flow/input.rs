//! Interpreting an answer for a question: pure functions from input to a value or a reason.

use crate::directory::{RegionMatch, Regions};
use crate::flow::compiled::Ask;
use crate::flow::model::InputKind;
use crate::flow::state::Value;
use crate::text::{char_len, fold};

/// What the person sent while a question was waiting.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Typed text.
    Text(&'a str),
    /// A pressed button (0-based).
    Choice(usize),
    /// A shared location.
    Location(f64, f64),
}

/// Why an answer was not accepted: the message to send, with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// Built-in message id explaining what is expected.
    pub message: &'static str,
    /// Fluent arguments for that message.
    pub args: Vec<(&'static str, Value)>,
}

impl Invalid {
    fn new(message: &'static str) -> Self {
        Self { message, args: Vec::new() }
    }

    fn with(mut self, name: &'static str, value: Value) -> Self {
        self.args.push((name, value));
        self
    }
}

/// Words accepted as "yes", folded.
pub const YES_WORDS: &[&str] =
    &["ya", "iya", "iyaa", "y", "yes", "yup", "yep", "ok", "oke", "okay", "betul", "benar", "bener", "1"];
/// Words accepted as "no", folded.
pub const NO_WORDS: &[&str] = &[
    "tidak", "tdk", "ga", "gak", "nggak", "ngga", "enggak", "engga", "ndak", "no", "n", "nope", "bukan", "2",
];

/// An accepted answer: the value to save and, for a choice, its index.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// Value for `save_as`.
    pub value: Value,
    /// Index of the chosen option, for choice questions.
    pub choice: Option<usize>,
}

/// What an answer amounts to.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A valid answer.
    Accepted(Accepted),
    /// Not a valid answer: say why and ask again.
    Invalid(Invalid),
    /// A region name that fits several regions: ask which one (codes, best first).
    Ambiguous(Vec<String>),
}

impl From<Result<Accepted, Invalid>> for Answer {
    fn from(r: Result<Accepted, Invalid>) -> Self {
        match r {
            Ok(a) => Answer::Accepted(a),
            Err(i) => Answer::Invalid(i),
        }
    }
}

/// Interprets `input` for `ask`. `labels` are the choice labels as the person may type them
/// (every language's rendering); `yes_no_labels` likewise the rendered yes and no labels.
pub fn interpret(
    ask: &Ask,
    input: Input<'_>,
    labels: &[Vec<String>],
    yes_no_labels: (&[String], &[String]),
    regions: &Regions,
) -> Answer {
    match ask.kind {
        InputKind::Choice => choice(ask, input, labels).into(),
        InputKind::YesNo => {
            yes_no(input, yes_no_labels).map(|b| Accepted { value: Value::Bool(b), choice: None }).into()
        }
        InputKind::Number => number(ask, input).into(),
        InputKind::Text => text(ask, input).into(),
        InputKind::Location => match input {
            Input::Location(lat, lon) => location(lat, lon, "invalid-location"),
            _ => Answer::Invalid(Invalid::new("invalid-location")),
        },
        InputKind::Region => match input {
            Input::Text(t) => region(t, regions, "invalid-region"),
            _ => Answer::Invalid(Invalid::new("invalid-region")),
        },
        InputKind::Place => match input {
            Input::Location(lat, lon) => location(lat, lon, "invalid-place"),
            Input::Text(t) => region(t, regions, "invalid-place"),
            Input::Choice(_) => Answer::Invalid(Invalid::new("invalid-place")),
        },
    }
}

fn location(lat: f64, lon: f64, invalid: &'static str) -> Answer {
    if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) {
        Answer::Accepted(Accepted { value: Value::Location { lat, lon }, choice: None })
    } else {
        Answer::Invalid(Invalid::new(invalid))
    }
}

/// The value saved for a region answer.
pub fn region_value(region: &crate::directory::Region) -> Value {
    Value::Region { code: region.code.clone(), name: region.name.clone() }
}

fn region(text: &str, regions: &Regions, invalid: &'static str) -> Answer {
    match regions.find(text) {
        RegionMatch::One(r) => Answer::Accepted(Accepted { value: region_value(r), choice: None }),
        RegionMatch::Several(list) => Answer::Ambiguous(list.into_iter().map(|r| r.code.clone()).collect()),
        RegionMatch::None => Answer::Invalid(Invalid::new(invalid)),
    }
}

fn choice(ask: &Ask, input: Input<'_>, labels: &[Vec<String>]) -> Result<Accepted, Invalid> {
    let count = ask.choices.len();
    let invalid = || Invalid::new("invalid-choice").with("count", Value::Number(count as f64));
    let index = match input {
        Input::Choice(i) if i < count => i,
        Input::Text(t) => {
            let folded = fold(t);
            match folded.parse::<usize>() {
                Ok(n) if (1..=count).contains(&n) => n - 1,
                Ok(_) => return Err(invalid()),
                Err(_) => labels
                    .iter()
                    .position(|forms| forms.iter().any(|l| fold(l) == folded))
                    .ok_or_else(invalid)?,
            }
        }
        _ => return Err(invalid()),
    };
    Ok(Accepted { value: Value::Text(ask.choices[index].value.clone()), choice: Some(index) })
}

fn yes_no(input: Input<'_>, labels: (&[String], &[String])) -> Result<bool, Invalid> {
    let invalid = || Invalid::new("invalid-yes-no");
    match input {
        Input::Choice(0) => Ok(true),
        Input::Choice(1) => Ok(false),
        Input::Text(t) => {
            let folded = fold(t);
            if YES_WORDS.contains(&folded.as_str()) || labels.0.iter().any(|l| fold(l) == folded) {
                Ok(true)
            } else if NO_WORDS.contains(&folded.as_str()) || labels.1.iter().any(|l| fold(l) == folded) {
                Ok(false)
            } else {
                Err(invalid())
            }
        }
        _ => Err(invalid()),
    }
}

fn number(ask: &Ask, input: Input<'_>) -> Result<Accepted, Invalid> {
    let invalid = || match (ask.min, ask.max) {
        (Some(min), Some(max)) => Invalid::new("invalid-number-range")
            .with("min", Value::Number(min))
            .with("max", Value::Number(max)),
        (Some(min), None) => Invalid::new("invalid-number-min").with("min", Value::Number(min)),
        (None, Some(max)) => Invalid::new("invalid-number-max").with("max", Value::Number(max)),
        (None, None) => Invalid::new("invalid-number"),
    };
    let Input::Text(t) = input else {
        return Err(invalid());
    };
    let n = parse_number(t).ok_or_else(invalid)?;
    if ask.min.is_some_and(|min| n < min) || ask.max.is_some_and(|max| n > max) {
        return Err(invalid());
    }
    Ok(Accepted { value: Value::Number(n), choice: None })
}

/// Reads a number as people write it in Indonesia: `1.000` and `1.500.000` group thousands
/// with dots, `2,5` has a decimal comma; `2.5` is still read as two and a half. Only plain
/// decimals count: "1e9", "inf" and "NaN" parse as floats but are not answers.
pub fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(rest) => (-1.0, rest),
        None => (1.0, t),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',') {
        return None;
    }
    let groups: Vec<&str> = digits.split('.').collect();
    let thousands = groups.len() > 1
        && !groups[0].is_empty()
        && groups[0].len() <= 3
        && !groups[0].starts_with('0')
        && !groups[0].contains(',')
        && groups[1..].iter().enumerate().all(|(i, g)| {
            let last = i == groups.len() - 2;
            let whole = if last { g.split(',').next().unwrap_or("") } else { g };
            whole.len() == 3 && whole.chars().all(|c| c.is_ascii_digit()) && (last || !g.contains(','))
        });
    let normalised = if thousands {
        digits.replace('.', "").replace(',', ".")
    } else if digits.contains(',') && digits.contains('.') {
        return None;
    } else {
        digits.replace(',', ".")
    };
    normalised.parse::<f64>().ok().filter(|n| n.is_finite()).map(|n| sign * n)
}

fn text(ask: &Ask, input: Input<'_>) -> Result<Accepted, Invalid> {
    let Input::Text(t) = input else {
        return Err(Invalid::new("invalid-text-short").with("min", Value::Number(ask.min_len as f64)));
    };
    let t = t.trim();
    let len = char_len(t);
    if len < ask.min_len {
        return Err(Invalid::new("invalid-text-short").with("min", Value::Number(ask.min_len as f64)));
    }
    if len > ask.max_len {
        return Err(Invalid::new("invalid-text-long").with("max", Value::Number(ask.max_len as f64)));
    }
    if ask.pattern.as_ref().is_some_and(|re| !re.is_match(t)) {
        return Err(Invalid::new("invalid-text-pattern"));
    }
    Ok(Accepted { value: Value::Text(t.to_string()), choice: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number_ask(min: Option<f64>, max: Option<f64>) -> Ask {
        Ask {
            kind: InputKind::Number,
            save_as: None,
            choices: Vec::new(),
            min_len: 1,
            max_len: 10,
            pattern: None,
            min,
            max,
            on_invalid: None,
            retries: 3,
            fallback: None,
            timeout: None,
        }
    }

    #[test]
    fn number_messages_name_the_bounds_that_exist() {
        let no = (&[][..], &[][..]);
        let regions = Regions::parse("code,name\n", "code,province_code,name\n").unwrap();
        let answer = |min, max, text| interpret(&number_ask(min, max), Input::Text(text), &[], no, &regions);
        let message = |min, max, text| match answer(min, max, text) {
            Answer::Invalid(i) => i,
            other => panic!("expected invalid, got {other:?}"),
        };
        assert_eq!(message(None, None, "x").message, "invalid-number");
        let m = message(Some(1.0), None, "0");
        assert_eq!((m.message, m.args), ("invalid-number-min", vec![("min", Value::Number(1.0))]));
        assert_eq!(message(None, Some(9.0), "10").message, "invalid-number-max");
        assert_eq!(message(Some(1.0), Some(9.0), "10").message, "invalid-number-range");
        let ok = answer(Some(1.0), None, "1.000");
        assert_eq!(ok, Answer::Accepted(Accepted { value: Value::Number(1000.0), choice: None }));
    }

    #[test]
    fn numbers_as_written_in_indonesia() {
        assert_eq!(parse_number("15"), Some(15.0));
        assert_eq!(parse_number(" 30,5 "), Some(30.5));
        assert_eq!(parse_number("2.5"), Some(2.5));
        assert_eq!(parse_number("1.000"), Some(1000.0));
        assert_eq!(parse_number("1.500.000"), Some(1_500_000.0));
        assert_eq!(parse_number("1.250,75"), Some(1250.75));
        assert_eq!(parse_number("-3"), Some(-3.0));
        assert_eq!(parse_number("0.500"), Some(0.5), "a leading zero is never a thousands group");
        for bad in ["", "-", "1e9", "inf", "NaN", "1,2,3", "1.2.3", "abc", "1,5.5", "12 3"] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }
}
