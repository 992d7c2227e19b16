//! Recursive-descent SOQL parser.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use super::lexer::{Tok, Token, lex};
use super::*;

struct P<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
}

const RESERVED: &[&str] = &[
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "LIMIT", "OFFSET",
    "ASC", "DESC", "NULLS", "FIRST", "LAST", "NULL", "TRUE", "FALSE", "GROUP", "HAVING", "WITH",
    "FOR", "INCLUDES", "EXCLUDES", "USING", "TYPEOF",
];

/// Parses a SOQL statement.
pub fn parse(src: &str) -> Result<Query, SoqlError> {
    let toks = lex(src)?;
    let mut p = P { src, toks, i: 0 };
    let q = p.query()?;
    if p.peek() != &Tok::Eof {
        return Err(p.unexpected());
    }
    Ok(q)
}

impl<'a> P<'a> {
    fn peek(&self) -> &Tok {
        &self.toks[self.i].tok
    }
    fn pos(&self) -> usize {
        self.toks[self.i].pos
    }
    fn next(&mut self) -> Token {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }
    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.next();
            true
        } else {
            false
        }
    }
    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if *x == s)
    }
    fn eat_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.next();
            true
        } else {
            false
        }
    }
    fn unexpected(&self) -> SoqlError {
        let t = &self.toks[self.i];
        let text = match &t.tok {
            Tok::Ident(s) | Tok::Num(s) => s.clone(),
            Tok::Str(s) => format!("'{s}'"),
            Tok::Sym(s) => s.to_string(),
            Tok::Eof => "<EOF>".to_string(),
        };
        error_at(
            self.src,
            t.pos,
            "MALFORMED_QUERY",
            &format!("unexpected token: '{text}'"),
        )
    }
    fn malformed(&self, pos: usize, msg: &str) -> SoqlError {
        error_at(self.src, pos, "MALFORMED_QUERY", msg)
    }
    fn expect_kw(&mut self, kw: &str) -> Result<(), SoqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }
    fn expect_sym(&mut self, s: &str) -> Result<(), SoqlError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn path(&mut self) -> Result<Path, SoqlError> {
        let pos = self.pos();
        match self.peek().clone() {
            Tok::Ident(s) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&s)) => {
                if s.contains(':') || s.ends_with('.') || s.contains("..") {
                    return Err(self.unexpected());
                }
                self.next();
                Ok(Path {
                    parts: s.split('.').map(str::to_string).collect(),
                    pos,
                })
            }
            _ => Err(self.unexpected()),
        }
    }

    fn query(&mut self) -> Result<Query, SoqlError> {
        self.expect_kw("SELECT")?;
        let mut select = Vec::new();
        loop {
            let pos = self.pos();
            if self.is_kw("TYPEOF") || self.is_sym("(") {
                return Err(self.malformed(
                    pos,
                    "The simulator does not support TYPEOF or sub-queries in the SELECT list",
                ));
            }
            let func = match self.peek() {
                Tok::Ident(s)
                    if matches!(
                        self.toks.get(self.i + 1).map(|t| &t.tok),
                        Some(Tok::Sym("("))
                    ) =>
                {
                    match s.to_ascii_uppercase().as_str() {
                        "COUNT" => Some(AggFn::Count),
                        "COUNT_DISTINCT" => Some(AggFn::CountDistinct),
                        "MIN" => Some(AggFn::Min),
                        "MAX" => Some(AggFn::Max),
                        "SUM" => Some(AggFn::Sum),
                        "AVG" => Some(AggFn::Avg),
                        _ => None,
                    }
                }
                _ => None,
            };
            if let Some(func) = func {
                self.next();
                self.expect_sym("(")?;
                let field = if self.is_sym(")") && func == AggFn::Count {
                    None
                } else {
                    Some(self.path()?)
                };
                self.expect_sym(")")?;
                let alias = match self.peek().clone() {
                    Tok::Ident(s)
                        if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&s))
                            && field.is_some() =>
                    {
                        self.next();
                        Some(s)
                    }
                    _ => None,
                };
                select.push(SelectItem::Agg {
                    func,
                    field,
                    alias,
                    pos,
                });
            } else {
                select.push(SelectItem::Field(self.path()?));
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        self.expect_kw("FROM")?;
        let from_pos = self.pos();
        let from = match self.next().tok {
            Tok::Ident(s) => s,
            _ => {
                self.i -= 1;
                return Err(self.unexpected());
            }
        };
        // Optional alias is not supported by the simulator; treat as error below.
        let where_ = if self.eat_kw("WHERE") {
            Some(self.or_expr()?)
        } else {
            None
        };
        if self.is_kw("WITH") {
            self.next();
            // WITH SECURITY_ENFORCED / USER_MODE / SYSTEM_MODE are accepted and ignored.
            match self.peek().clone() {
                Tok::Ident(s)
                    if ["SECURITY_ENFORCED", "USER_MODE", "SYSTEM_MODE"]
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(&s)) =>
                {
                    self.next();
                }
                _ => return Err(self.unexpected()),
            }
        }
        let mut group_by = Vec::new();
        if self.eat_kw("GROUP") {
            self.expect_kw("BY")?;
            if self.is_kw("ROLLUP") || self.is_kw("CUBE") {
                return Err(self.malformed(
                    self.pos(),
                    "GROUP BY ROLLUP/CUBE is not supported by the simulator",
                ));
            }
            loop {
                group_by.push(self.path()?);
                if !self.eat_sym(",") {
                    break;
                }
            }
            if self.is_kw("HAVING") {
                return Err(self.malformed(self.pos(), "HAVING is not supported by the simulator"));
            }
        }
        let mut order = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let path = self.path()?;
                let mut desc = false;
                if self.eat_kw("DESC") {
                    desc = true;
                } else {
                    self.eat_kw("ASC");
                }
                let mut nulls_last = None;
                if self.eat_kw("NULLS") {
                    if self.eat_kw("FIRST") {
                        nulls_last = Some(false);
                    } else if self.eat_kw("LAST") {
                        nulls_last = Some(true);
                    } else {
                        return Err(self.unexpected());
                    }
                }
                order.push(OrderKey {
                    path,
                    desc,
                    nulls_last,
                });
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        let mut limit = None;
        let mut offset = None;
        if self.eat_kw("LIMIT") {
            limit = Some(self.uint()?);
        }
        if self.eat_kw("OFFSET") {
            offset = Some(self.uint()?);
        }
        if self.eat_kw("FOR") && !(self.eat_kw("VIEW") || self.eat_kw("REFERENCE")) {
            return Err(self.unexpected());
        }
        Ok(Query {
            select,
            from,
            from_pos,
            where_,
            group_by,
            order,
            limit,
            offset,
        })
    }

    fn uint(&mut self) -> Result<u64, SoqlError> {
        match self.peek().clone() {
            Tok::Num(n) => match n.parse::<u64>() {
                Ok(v) => {
                    self.next();
                    Ok(v)
                }
                Err(_) => Err(self.unexpected()),
            },
            _ => Err(self.unexpected()),
        }
    }

    fn or_expr(&mut self) -> Result<Expr, SoqlError> {
        let first = self.and_expr()?;
        if !self.is_kw("OR") {
            return Ok(first);
        }
        let mut v = vec![first];
        while self.eat_kw("OR") {
            v.push(self.and_expr()?);
        }
        Ok(Expr::Or(v))
    }

    fn and_expr(&mut self) -> Result<Expr, SoqlError> {
        let first = self.not_expr()?;
        if !self.is_kw("AND") {
            return Ok(first);
        }
        let mut v = vec![first];
        while self.eat_kw("AND") {
            v.push(self.not_expr()?);
        }
        Ok(Expr::And(v))
    }

    fn not_expr(&mut self) -> Result<Expr, SoqlError> {
        if self.eat_kw("NOT") {
            return Ok(Expr::Not(Box::new(self.not_expr()?)));
        }
        if self.eat_sym("(") {
            let e = self.or_expr()?;
            self.expect_sym(")")?;
            return Ok(e);
        }
        self.condition()
    }

    fn condition(&mut self) -> Result<Expr, SoqlError> {
        let path = self.path()?;
        let negated = self.eat_kw("NOT");
        if self.eat_kw("IN") {
            self.expect_sym("(")?;
            if self.is_kw("SELECT") {
                let sub = self.query()?;
                self.expect_sym(")")?;
                return Ok(Expr::InQuery {
                    path,
                    negated,
                    sub: Box::new(sub),
                });
            }
            let lit_pos = self.pos();
            let mut list = Vec::new();
            loop {
                list.push(self.literal()?);
                if !self.eat_sym(",") {
                    break;
                }
            }
            self.expect_sym(")")?;
            return Ok(Expr::In {
                path,
                negated,
                list,
                lit_pos,
            });
        }
        if self.eat_kw("LIKE") {
            return match self.next().tok {
                Tok::Str(pattern) => Ok(Expr::Like {
                    path,
                    pattern,
                    negated,
                }),
                _ => {
                    self.i -= 1;
                    Err(self.unexpected())
                }
            };
        }
        if negated {
            return Err(self.unexpected());
        }
        let op = match self.peek() {
            Tok::Sym("=") => Op::Eq,
            Tok::Sym("!=") => Op::Ne,
            Tok::Sym("<") => Op::Lt,
            Tok::Sym("<=") => Op::Le,
            Tok::Sym(">") => Op::Gt,
            Tok::Sym(">=") => Op::Ge,
            _ => return Err(self.unexpected()),
        };
        self.next();
        let lit_pos = self.pos();
        let lit = self.literal()?;
        Ok(Expr::Cmp {
            path,
            op,
            lit,
            lit_pos,
        })
    }

    fn literal(&mut self) -> Result<Lit, SoqlError> {
        let pos = self.pos();
        let t = self.next();
        match t.tok {
            Tok::Str(s) => Ok(Lit::Str(s)),
            Tok::Num(n) => parse_num_or_date(&n).ok_or_else(|| {
                self.malformed(
                    pos,
                    &format!("line 1:{} no viable alternative at character '{n}'", pos),
                )
            }),
            Tok::Ident(s) => {
                let up = s.to_ascii_uppercase();
                match up.as_str() {
                    "NULL" => Ok(Lit::Null),
                    "TRUE" => Ok(Lit::Bool(true)),
                    "FALSE" => Ok(Lit::Bool(false)),
                    _ => date_literal(&up)
                        .map(Lit::DateLit)
                        .ok_or_else(|| self.malformed(pos, &format!("unexpected token: '{s}'"))),
                }
            }
            _ => {
                self.i -= 1;
                Err(self.unexpected())
            }
        }
    }
}

fn parse_num_or_date(n: &str) -> Option<Lit> {
    if n.len() >= 10 && n.as_bytes().get(4) == Some(&b'-') {
        if n.len() == 10 {
            let d = NaiveDate::parse_from_str(n, "%Y-%m-%d").ok()?;
            return Some(Lit::Date(
                d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis(),
            ));
        }
        if let Ok(dt) = DateTime::parse_from_rfc3339(n) {
            return Some(Lit::DateTime(dt.timestamp_millis()));
        }
        if let Ok(dt) = DateTime::parse_from_str(n, "%Y-%m-%dT%H:%M:%S%.f%z") {
            return Some(Lit::DateTime(dt.timestamp_millis()));
        }
        if let Some(x) = n.strip_suffix('Z')
            && let Ok(dt) = NaiveDateTime::parse_from_str(x, "%Y-%m-%dT%H:%M:%S%.f")
        {
            return Some(Lit::DateTime(dt.and_utc().timestamp_millis()));
        }
        return None;
    }
    n.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Lit::Num)
}

fn date_literal(up: &str) -> Option<DateLiteral> {
    use DateLiteral::*;
    if let Some((name, n)) = up.split_once(':') {
        let n: i64 = n.parse::<i64>().ok()?.min(100_000);
        return Some(match name {
            "LAST_N_DAYS" => LastNDays(n),
            "NEXT_N_DAYS" => NextNDays(n),
            "N_DAYS_AGO" => NDaysAgo(n),
            "LAST_N_WEEKS" => LastNWeeks(n),
            "LAST_N_MONTHS" => LastNMonths(n),
            _ => return None,
        });
    }
    Some(match up {
        "TODAY" => Today,
        "YESTERDAY" => Yesterday,
        "TOMORROW" => Tomorrow,
        "LAST_WEEK" => LastWeek,
        "THIS_WEEK" => ThisWeek,
        "NEXT_WEEK" => NextWeek,
        "LAST_MONTH" => LastMonth,
        "THIS_MONTH" => ThisMonth,
        "NEXT_MONTH" => NextMonth,
        "LAST_YEAR" => LastYear,
        "THIS_YEAR" => ThisYear,
        "NEXT_YEAR" => NextYear,
        "LAST_90_DAYS" => Last90Days,
        "NEXT_90_DAYS" => Next90Days,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// Whatever a client sends, the parser answers a query or an error.
        #[test]
        fn any_text_parses_or_errs(src in "\\PC{0,300}") {
            let _ = parse(&src);
        }

        /// Valid queries cut or spliced anywhere: an answer, never a panic.
        #[test]
        fn mangled_queries_never_panic(cut in 0usize..200, insert in "\\PC{0,10}") {
            let q = "SELECT Id, UserId, AppName, CreatedDate FROM OauthToken WHERE CreatedDate >= 2026-01-01T00:00:00Z AND (Id > '0CQ\\'x' OR UserId IN ('005A', '005B')) ORDER BY CreatedDate, Id LIMIT 2000";
            let at = q.char_indices().map(|(i, _)| i).nth(cut % q.chars().count()).unwrap_or(0);
            let _ = parse(&q[..at]);
            let _ = parse(&format!("{}{insert}{}", &q[..at], &q[at..]));
        }
    }

    use super::*;

    fn p(s: &str) -> Query {
        parse(s).unwrap_or_else(|e| panic!("{s}: {}", e.message))
    }

    #[test]
    fn parses_field_list_with_relationships() {
        let q = p(
            "SELECT Id, AppName, User.Name, User.Profile.Name, AppMenuItem.ApplicationId FROM OauthToken",
        );
        assert_eq!(q.from, "OauthToken");
        assert_eq!(q.select.len(), 5);
        match &q.select[3] {
            SelectItem::Field(path) => assert_eq!(path.parts, vec!["User", "Profile", "Name"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_count_and_where_precedence() {
        let q = p(
            "select count() from OauthToken where AppName = 'a' or AppName = 'b' and not UseCount > 5",
        );
        assert!(matches!(
            q.select[0],
            SelectItem::Agg {
                func: AggFn::Count,
                field: None,
                ..
            }
        ));
        match q.where_.unwrap() {
            Expr::Or(v) => {
                assert_eq!(v.len(), 2);
                assert!(matches!(&v[1], Expr::And(a) if matches!(a[1], Expr::Not(_))));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_literals() {
        let q = p(
            "SELECT Id FROM OauthToken WHERE CreatedDate >= 2026-01-01T00:00:00Z AND CreatedDate < 2026-02-01T00:00:00.000+0000 AND LastUsedDate = LAST_N_DAYS:90 AND UseCount > -1 AND UserId IN ('005A', '005B') AND AppName NOT IN ('x') AND AppName LIKE 'Dr%' AND LastUsedDate != null AND X = true",
        );
        let Some(Expr::And(v)) = q.where_ else {
            panic!()
        };
        assert_eq!(v.len(), 9);
        assert!(matches!(
            &v[0],
            Expr::Cmp {
                op: Op::Ge,
                lit: Lit::DateTime(1_767_225_600_000),
                ..
            }
        ));
        assert!(matches!(
            &v[1],
            Expr::Cmp {
                op: Op::Lt,
                lit: Lit::DateTime(1_769_904_000_000),
                ..
            }
        ));
        assert!(matches!(
            &v[2],
            Expr::Cmp {
                lit: Lit::DateLit(DateLiteral::LastNDays(90)),
                ..
            }
        ));
        assert!(matches!(&v[3], Expr::Cmp { lit: Lit::Num(n), .. } if *n == -1.0));
        assert!(matches!(&v[4], Expr::In { negated: false, list, .. } if list.len() == 2));
        assert!(matches!(&v[5], Expr::In { negated: true, .. }));
        assert!(matches!(&v[6], Expr::Like { .. }));
        assert!(matches!(
            &v[7],
            Expr::Cmp {
                op: Op::Ne,
                lit: Lit::Null,
                ..
            }
        ));
        assert!(matches!(
            &v[8],
            Expr::Cmp {
                lit: Lit::Bool(true),
                ..
            }
        ));
    }

    #[test]
    fn parses_order_limit_offset() {
        let q = p(
            "SELECT Id FROM OauthToken ORDER BY CreatedDate DESC NULLS LAST, Id LIMIT 2500 OFFSET 10",
        );
        assert_eq!(q.order.len(), 2);
        assert!(q.order[0].desc);
        assert_eq!(q.order[0].nulls_last, Some(true));
        assert!(!q.order[1].desc);
        assert_eq!(q.limit, Some(2500));
        assert_eq!(q.offset, Some(10));
    }

    #[test]
    fn parses_group_by_and_aggregates() {
        let q = p(
            "SELECT Application, COUNT(Id) n, MAX(LoginTime) FROM LoginHistory GROUP BY Application ORDER BY Application",
        );
        assert_eq!(q.group_by.len(), 1);
        assert!(
            matches!(&q.select[1], SelectItem::Agg { func: AggFn::Count, alias: Some(a), .. } if a == "n")
        );
        assert!(matches!(
            &q.select[2],
            SelectItem::Agg {
                func: AggFn::Max,
                alias: None,
                ..
            }
        ));
        assert!(parse("SELECT COUNT(Id) FROM User GROUP BY Name HAVING COUNT(Id) > 1").is_err());
    }

    #[test]
    fn parses_semi_join_and_escapes() {
        let q = p(
            "SELECT Id FROM OauthToken WHERE UserId IN (SELECT Id FROM User WHERE IsActive = false) AND AppName = 'O\\'Brien'",
        );
        let Some(Expr::And(v)) = q.where_ else {
            panic!()
        };
        assert!(matches!(&v[0], Expr::InQuery { .. }));
        assert!(matches!(&v[1], Expr::Cmp { lit: Lit::Str(s), .. } if s == "O'Brien"));
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "SELECT FROM OauthToken",
            "SELECT Id OauthToken",
            "SELECT Id FROM OauthToken WHERE",
            "SELECT Id FROM OauthToken WHERE AppName = ",
            "SELECT Id FROM OauthToken LIMIT x",
            "SELECT Id FROM OauthToken WHERE AppName = 'unterminated",
            "SELECT Id, FROM OauthToken",
            "SELECT Id FROM OauthToken WHERE CreatedDate > 2026-13-45T00:00:00Z",
            "SELECT Id FROM OauthToken trailing junk",
            "SELECT Id FROM OauthToken WHERE AppName ~ 'x'",
        ] {
            let e = parse(bad).expect_err(bad);
            assert_eq!(e.code, "MALFORMED_QUERY", "{bad}");
            assert!(
                e.message.contains("ERROR at Row:1:Column:"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn hostile_input_never_panics() {
        for q in [
            "SELECT Id FROM User WHERE Name =é",
            "SELECT Id FROM User WHERE Name <é",
            "SELECT Id FROM User WHERE Name = 'é",
            "SELECT Id FROM User WHERE Name = '\\",
            "SELECT Id FROM User WHERE Name = 'x\\q'",
            "SELECT Id FROM User WHERE 🦊 = 1",
            "SELECT Id FROM User WHERE Name IN ()",
            "SELECT Id FROM User ORDER BY",
            "SELECT",
            "",
            "(((((",
            "SELECT Id FROM User WHERE CreatedDate > 2026-01-01T",
            "SELECT Id FROM User LIMIT 99999999999999999999999",
        ] {
            let _ = parse(q);
        }
        let e = parse("SELECT Id FROM User WHERE Name =é").unwrap_err();
        assert_eq!(e.code, "MALFORMED_QUERY");
    }

    #[test]
    fn error_message_points_at_token() {
        let e = parse("SELECT Id FRM OauthToken").unwrap_err();
        assert!(e.message.contains("Column:11"), "{}", e.message);
        assert!(
            e.message.contains("unexpected token: 'FRM'"),
            "{}",
            e.message
        );
    }
}
