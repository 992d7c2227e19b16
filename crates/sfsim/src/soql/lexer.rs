//! SOQL tokenizer.

use super::{SoqlError, error_at};

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// Identifier or keyword (may contain dots, and `:n` for date literals).
    Ident(String),
    Str(String),
    /// Numbers and date/datetime literals (unquoted, start with a digit or '-').
    Num(String),
    Sym(&'static str),
    Eof,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub pos: usize,
}

pub fn lex(src: &str) -> Result<Vec<Token>, SoqlError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            if i + 1 < b.len() && b[i] == b':' && b[i + 1].is_ascii_digit() {
                i += 1;
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            out.push(Token {
                tok: Tok::Ident(src[start..i].to_string()),
                pos: start,
            });
        } else if c.is_ascii_digit() || (c == b'-' && i + 1 < b.len() && b[i + 1].is_ascii_digit())
        {
            i += 1;
            while i < b.len()
                && (b[i].is_ascii_digit()
                    || matches!(b[i], b'.' | b':' | b'-' | b'+' | b'T' | b'Z'))
            {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Num(src[start..i].to_string()),
                pos: start,
            });
        } else if c == b'\'' {
            i += 1;
            let mut s = String::new();
            loop {
                if i >= b.len() {
                    return Err(error_at(
                        src,
                        start,
                        "MALFORMED_QUERY",
                        "unterminated string literal",
                    ));
                }
                match b[i] {
                    b'\'' => {
                        i += 1;
                        break;
                    }
                    b'\\' if i + 1 < b.len() => {
                        let e = b[i + 1];
                        if matches!(e, b'%' | b'_') {
                            // Keep LIKE escapes intact; the matcher interprets them.
                            s.push('\\');
                        }
                        s.push(match e {
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'%' | b'_' => e as char,
                            b'\'' | b'"' | b'\\' => e as char,
                            _ => {
                                return Err(error_at(
                                    src,
                                    i,
                                    "MALFORMED_QUERY",
                                    "Invalid string literal. Illegal character sequence.",
                                ));
                            }
                        });
                        i += 2;
                    }
                    _ => {
                        let ch = src[i..].chars().next().unwrap_or(' ');
                        s.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            out.push(Token {
                tok: Tok::Str(s),
                pos: start,
            });
        } else {
            // Byte-wise: the next character may be multi-byte.
            let two: &[u8] = if i + 1 < b.len() { &b[i..i + 2] } else { b"" };
            let sym: &'static str = match two {
                b"!=" => "!=",
                b"<>" => "!=",
                b"<=" => "<=",
                b">=" => ">=",
                _ => match c {
                    b'=' => "=",
                    b'<' => "<",
                    b'>' => ">",
                    b'(' => "(",
                    b')' => ")",
                    b',' => ",",
                    _ => {
                        let ch = src[i..].chars().next().unwrap_or(' ');
                        return Err(error_at(
                            src,
                            i,
                            "MALFORMED_QUERY",
                            &format!("unexpected token: '{ch}'"),
                        ));
                    }
                },
            };
            i += sym.len();
            out.push(Token {
                tok: Tok::Sym(sym),
                pos: start,
            });
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: src.len(),
    });
    Ok(out)
}
