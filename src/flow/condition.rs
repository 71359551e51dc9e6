//! Conditions of `branch` arms: `in_danger == true and (kind == "fisik" or age < 18)`.

use std::collections::BTreeMap;

use thiserror::Error;

use super::state::Value;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Both hold.
    And(Box<Condition>, Box<Condition>),
    /// Either holds.
    Or(Box<Condition>, Box<Condition>),
    /// Does not hold.
    Not(Box<Condition>),
    /// A variable is set and truthy.
    Truthy(String),
    /// A variable compared with a literal.
    Compare(String, Op, Value),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// Why a condition could not be parsed.
#[derive(Debug, Error, PartialEq)]
#[error("invalid condition `{source_text}`: {reason}")]
pub struct ConditionError {
    source_text: String,
    reason: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Lit(Value),
    Op(Op),
    And,
    Or,
    Not,
    Open,
    Close,
}

fn tokenize(src: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '"' | '\'' => {
                let end = chars[i + 1..].iter().position(|&d| d == c).ok_or("unterminated string")?;
                let text: String = chars[i + 1..i + 1 + end].iter().collect();
                out.push(Token::Lit(Value::Text(text)));
                i += end + 2;
            }
            '=' | '!' | '<' | '>' => {
                let next = chars.get(i + 1).copied();
                let (op, len) = match (c, next) {
                    ('=', Some('=')) => (Some(Op::Eq), 2),
                    ('!', Some('=')) => (Some(Op::Ne), 2),
                    ('<', Some('=')) => (Some(Op::Le), 2),
                    ('>', Some('=')) => (Some(Op::Ge), 2),
                    ('<', _) => (Some(Op::Lt), 1),
                    ('>', _) => (Some(Op::Gt), 1),
                    ('!', _) => (None, 1),
                    _ => return Err("use `==` to compare".into()),
                };
                out.push(op.map_or(Token::Not, Token::Op));
                i += len;
            }
            c if c.is_ascii_digit() || c == '-' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let n: f64 = text.parse().map_err(|_| format!("bad number `{text}`"))?;
                out.push(Token::Lit(Value::Number(n)));
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                out.push(match word.as_str() {
                    "and" => Token::And,
                    "or" => Token::Or,
                    "not" => Token::Not,
                    "true" => Token::Lit(Value::Bool(true)),
                    "false" => Token::Lit(Value::Bool(false)),
                    _ => Token::Ident(word),
                });
            }
            other => return Err(format!("unexpected `{other}`")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Condition, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            left = Condition::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Condition, String> {
        let mut left = self.not()?;
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            left = Condition::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Condition, String> {
        if self.peek() == Some(&Token::Not) {
            self.pos += 1;
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Condition, String> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("missing `)`".into()),
                }
            }
            Some(Token::Ident(name)) => match self.peek() {
                Some(Token::Op(op)) => {
                    let op = *op;
                    self.pos += 1;
                    match self.next() {
                        Some(Token::Lit(v)) => Ok(Condition::Compare(name, op, v)),
                        _ => Err(format!("expected a value after the operator on `{name}`")),
                    }
                }
                _ => Ok(Condition::Truthy(name)),
            },
            Some(other) => Err(format!("expected a variable name, found {other:?}")),
            None => Err("unexpected end".into()),
        }
    }
}

impl Condition {
    /// Parses a condition; variables are bare names, text literals are quoted.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use teduh::flow::Value;
    /// use teduh::flow::condition::Condition;
    ///
    /// let cond = Condition::parse(r#"safe == false or kind == "seksual""#).unwrap();
    /// let mut vars = BTreeMap::new();
    /// vars.insert("safe".to_string(), Value::Bool(true));
    /// assert!(!cond.eval(&vars));
    /// vars.insert("kind".to_string(), Value::Text("seksual".into()));
    /// assert!(cond.eval(&vars));
    /// ```
    pub fn parse(src: &str) -> Result<Self, ConditionError> {
        let err = |reason: String| ConditionError { source_text: src.to_string(), reason };
        let tokens = tokenize(src).map_err(err)?;
        let mut parser = Parser { tokens, pos: 0 };
        let cond = parser.or().map_err(err)?;
        if parser.pos < parser.tokens.len() {
            return Err(err("unexpected text after the condition".into()));
        }
        Ok(cond)
    }

    /// Evaluates against saved variables; an unset variable equals nothing.
    pub fn eval(&self, vars: &BTreeMap<String, Value>) -> bool {
        match self {
            Condition::And(a, b) => a.eval(vars) && b.eval(vars),
            Condition::Or(a, b) => a.eval(vars) || b.eval(vars),
            Condition::Not(a) => !a.eval(vars),
            Condition::Truthy(name) => vars.get(name).is_some_and(Value::is_truthy),
            Condition::Compare(name, op, lit) => match vars.get(name) {
                None => *op == Op::Ne,
                Some(v) => compare(v, *op, lit),
            },
        }
    }
}

fn compare(value: &Value, op: Op, lit: &Value) -> bool {
    let ordering = match (value, lit) {
        (Value::Number(a), Value::Number(b)) => a.partial_cmp(b),
        (Value::Text(a), Value::Number(b)) => a.trim().parse::<f64>().ok().and_then(|a| a.partial_cmp(b)),
        (Value::Text(a), Value::Text(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        // A region answer equals its code ("72.71") or its name ("Kota Palu").
        (Value::Region { code, name }, Value::Text(b)) => {
            if code == b || crate::text::fold(name) == crate::text::fold(b) {
                Some(std::cmp::Ordering::Equal)
            } else {
                Some(code.as_str().cmp(b.as_str()))
            }
        }
        _ => None,
    };
    match (op, ordering) {
        (Op::Ne, None) => true,
        (_, None) => false,
        (Op::Eq, Some(o)) => o.is_eq(),
        (Op::Ne, Some(o)) => o.is_ne(),
        (Op::Lt, Some(o)) => o.is_lt(),
        (Op::Le, Some(o)) => o.is_le(),
        (Op::Gt, Some(o)) => o.is_gt(),
        (Op::Ge, Some(o)) => o.is_ge(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn compares_bools_texts_and_numbers() {
        let v = vars(&[
            ("in_danger", Value::Bool(true)),
            ("kind", Value::Text("fisik".into())),
            ("age", Value::Number(15.0)),
        ]);
        assert!(Condition::parse("in_danger == true").unwrap().eval(&v));
        assert!(Condition::parse("kind == \"fisik\" and age < 18").unwrap().eval(&v));
        assert!(!Condition::parse("kind != 'fisik' or age >= 18").unwrap().eval(&v));
        assert!(Condition::parse("not (age > 20)").unwrap().eval(&v));
        assert!(Condition::parse("in_danger").unwrap().eval(&v));
    }

    #[test]
    fn regions_compare_by_code_or_name() {
        let v = vars(&[("place", Value::Region { code: "72.71".into(), name: "Kota Palu".into() })]);
        assert!(Condition::parse("place == \"72.71\"").unwrap().eval(&v));
        assert!(Condition::parse("place == 'kota palu'").unwrap().eval(&v));
        assert!(Condition::parse("place != \"53.71\"").unwrap().eval(&v));
    }

    #[test]
    fn unset_variables_equal_nothing() {
        let v = BTreeMap::new();
        assert!(!Condition::parse("x == 1").unwrap().eval(&v));
        assert!(Condition::parse("x != 1").unwrap().eval(&v));
        assert!(!Condition::parse("x").unwrap().eval(&v));
        assert!(Condition::parse("!x").unwrap().eval(&v));
    }

    #[test]
    fn rejects_malformed_conditions() {
        for bad in ["x =", "x = 1", "(x == 1", "x == 1 y", "== 1", "x == \"open", ""] {
            assert!(Condition::parse(bad).is_err(), "{bad} should not parse");
        }
    }
}
