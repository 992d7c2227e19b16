//! SOQL: lexer, parser and AST for the subset real clients send for these objects.

mod lexer;
mod parser;

pub use parser::parse;

use crate::model::Ts;

#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    pub parts: Vec<String>,
    /// Byte offset in the query text (for error columns).
    pub pos: usize,
}

impl Path {
    pub fn dotted(&self) -> String {
        self.parts.join(".")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SelectItem {
    Field(Path),
    /// An aggregate: `COUNT()` (field None), `COUNT(f)`, `COUNT_DISTINCT(f)`, `MIN`, `MAX`, `SUM`, `AVG`.
    Agg {
        func: AggFn,
        field: Option<Path>,
        alias: Option<String>,
        pos: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFn {
    Count,
    CountDistinct,
    Min,
    Max,
    Sum,
    Avg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateLiteral {
    Today,
    Yesterday,
    Tomorrow,
    LastWeek,
    ThisWeek,
    NextWeek,
    LastMonth,
    ThisMonth,
    NextMonth,
    LastYear,
    ThisYear,
    NextYear,
    Last90Days,
    Next90Days,
    LastNDays(i64),
    NextNDays(i64),
    NDaysAgo(i64),
    LastNWeeks(i64),
    LastNMonths(i64),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Null,
    Str(String),
    Num(f64),
    Bool(bool),
    DateTime(Ts),
    /// A `YYYY-MM-DD` literal (midnight UTC).
    Date(Ts),
    DateLit(DateLiteral),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp {
        path: Path,
        op: Op,
        lit: Lit,
        lit_pos: usize,
    },
    In {
        path: Path,
        negated: bool,
        list: Vec<Lit>,
        lit_pos: usize,
    },
    InQuery {
        path: Path,
        negated: bool,
        sub: Box<Query>,
    },
    Like {
        path: Path,
        pattern: String,
        negated: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct OrderKey {
    pub path: Path,
    pub desc: bool,
    /// None = default (ASC: nulls first, DESC: nulls last).
    pub nulls_last: Option<bool>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    pub select: Vec<SelectItem>,
    pub from: String,
    pub from_pos: usize,
    pub where_: Option<Expr>,
    pub group_by: Vec<Path>,
    pub order: Vec<OrderKey>,
    pub limit: Option<u64>,
    pub offset: Option<u64>,
}

/// A SOQL error with the Salesforce errorCode it maps to.
#[derive(Clone, Debug, PartialEq)]
pub struct SoqlError {
    pub code: &'static str,
    pub message: String,
}

/// Formats a message the way Salesforce does: the query line, a caret, the
/// position and the reason.
pub fn error_at(src: &str, pos: usize, code: &'static str, msg: &str) -> SoqlError {
    let pos = pos.min(src.len());
    let before = &src[..pos];
    let row = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = src[pos..].find('\n').map(|i| pos + i).unwrap_or(src.len());
    let col = src[line_start..pos].chars().count() + 1;
    let caret = " ".repeat(col - 1) + "^";
    SoqlError {
        code,
        message: format!(
            "\n{}\n{}\nERROR at Row:{}:Column:{}\n{}",
            &src[line_start..line_end],
            caret,
            row,
            col,
            msg
        ),
    }
}
