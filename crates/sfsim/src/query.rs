//! Query execution: resolves a parsed SOQL statement against the schema, uses the
//! OauthToken indexes, sorts, pages (cursors) and renders Salesforce JSON.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use chrono::{Datelike, NaiveDate, TimeZone, Utc};

use crate::model::*;
use crate::schema::{self, Env, FType, FieldDef, Obj, Value};
use crate::soql::{self, AggFn, DateLiteral, Expr, Lit, Op, SelectItem, SoqlError, error_at};

const DAY: Ts = 86_400_000;
/// OauthToken quirk: 500-row pages and a silent stop at 2,500 rows (reference §4.1, §9).
pub const OAUTH_TOKEN_PAGE: usize = 500;
pub const OAUTH_TOKEN_CAP: usize = 2_500;
/// Cursors expire after 15 minutes without use.
pub const CURSOR_TTL: Ts = 15 * 60_000;
const MAX_CURSORS: usize = 500;

/// A resolved field path: the reference fields followed, then the final field.
#[derive(Clone, Debug)]
pub struct RPath {
    pub hops: Vec<&'static FieldDef>,
    pub objs: Vec<Obj>,
    pub field: &'static FieldDef,
}

impl RPath {
    fn is_direct(&self, name: &str) -> bool {
        self.hops.is_empty() && self.field.name == name
    }
}

#[derive(Debug)]
enum RExpr {
    And(Vec<RExpr>),
    Or(Vec<RExpr>),
    Not(Box<RExpr>),
    Cmp {
        path: RPath,
        op: Op,
        val: Value,
    },
    /// Date literal: a half-open [lo, hi) range.
    Range {
        path: RPath,
        op: Op,
        lo: Ts,
        hi: Ts,
    },
    In {
        path: RPath,
        negated: bool,
        keys: HashSet<String>,
        has_null: bool,
    },
    Like {
        path: RPath,
        pattern: Vec<char>,
        negated: bool,
    },
}

/// Output shape of a record: fields and nested relationships in select order.
#[derive(Clone, Debug)]
pub struct Node {
    pub obj: Obj,
    pub entries: Vec<(String, Entry)>,
}

#[derive(Clone, Debug)]
pub enum Entry {
    Field(&'static FieldDef),
    Rel(&'static FieldDef, Node),
}

/// Open query cursors (kept apart from the org state so queries only read-lock it).
#[derive(Default)]
pub struct Cursors {
    pub map: HashMap<String, Cursor>,
    pub seq: u64,
}

pub struct Cursor {
    pub obj: Obj,
    pub node: Arc<Node>,
    pub rows: Arc<Vec<u32>>,
    pub total: usize,
    pub batch: usize,
    pub last_access: Ts,
    pub running_user: u32,
}

/// Query errors carry the REST errorCode.
pub type QResult<T> = Result<T, SoqlError>;

pub struct Request<'a> {
    pub soql: &'a str,
    pub batch_hint: Option<usize>,
    pub now: Ts,
    pub query_all: bool,
}

/// Result of a first query call.
pub struct Page {
    pub json: String,
}

fn invalid_field(src: &str, pos: usize, msg: String) -> SoqlError {
    error_at(src, pos, "INVALID_FIELD", &msg)
}

fn resolve_path(src: &str, obj: Obj, p: &soql::Path) -> QResult<RPath> {
    let mut cur = obj;
    let mut hops = Vec::new();
    let mut objs = vec![obj];
    let n = p.parts.len();
    for part in &p.parts[..n - 1] {
        let Some(fk) = cur.relationship(part) else {
            return Err(invalid_field(
                src,
                p.pos,
                format!(
                    "Didn't understand relationship '{part}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
                ),
            ));
        };
        let Some(next) = Obj::from_name(fk.reference_to) else {
            return Err(invalid_field(
                src,
                p.pos,
                format!("Didn't understand relationship '{part}' in field path."),
            ));
        };
        hops.push(fk);
        cur = next;
        objs.push(cur);
    }
    let last = &p.parts[n - 1];
    let Some(field) = cur.field(last) else {
        return Err(invalid_field(
            src,
            p.pos,
            format!(
                "No such column '{last}' on entity '{}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.",
                cur.name()
            ),
        ));
    };
    Ok(RPath { hops, objs, field })
}

/// Resolves the value at a path for a row (None if a lookup on the way is null).
fn eval_path(st: &OrgState, env: &Env, obj: Obj, row: u32, p: &RPath) -> Value {
    let mut cur = (obj, row);
    for fk in &p.hops {
        match schema::follow(st, cur.0, cur.1, fk.name) {
            Some(next) => cur = next,
            None => return Value::Null,
        }
    }
    schema::value(st, env, cur.0, cur.1, p.field.name)
}

fn ci_cmp(a: &str, b: &str) -> Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

pub fn cmp_values(a: &Value, b: &Value) -> Option<Ordering> {
    use Value::*;
    Some(match (a, b) {
        (Str(x), Str(y)) => ci_cmp(x, y),
        (Id(x), Id(y)) | (Id(x), Str(y)) | (Str(x), Id(y)) => {
            x.get(..15).unwrap_or(x).cmp(y.get(..15).unwrap_or(y))
        }
        (Int(x), Int(y)) => x.cmp(y),
        (Int(x), Double(y)) => (*x as f64).partial_cmp(y)?,
        (Double(x), Int(y)) => x.partial_cmp(&(*y as f64))?,
        (Double(x), Double(y)) => x.partial_cmp(y)?,
        (Bool(x), Bool(y)) => x.cmp(y),
        (DateTime(x), DateTime(y))
        | (Date(x), Date(y))
        | (DateTime(x), Date(y))
        | (Date(x), DateTime(y)) => x.cmp(y),
        _ => return None,
    })
}

fn value_key(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::Str(s) => s.to_lowercase(),
        Value::Id(s) => s.get(..15).unwrap_or(s).to_string(),
        Value::Int(i) => format!("{}", *i as f64),
        Value::Double(d) => format!("{d}"),
        Value::Bool(b) => b.to_string(),
        Value::DateTime(t) | Value::Date(t) => t.to_string(),
    })
}

fn like_match(pat: &[char], s: &[char]) -> bool {
    // Iterative wildcard match: '%' any run, '_' one char, '\' escapes; case-insensitive.
    let (mut p, mut i) = (0, 0);
    let (mut star_p, mut star_i) = (usize::MAX, 0);
    while i < s.len() {
        if p < pat.len() {
            match pat[p] {
                '%' => {
                    star_p = p;
                    star_i = i;
                    p += 1;
                    continue;
                }
                '_' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                '\\' if p + 1 < pat.len() && pat[p + 1] == s[i] => {
                    p += 2;
                    i += 1;
                    continue;
                }
                c if c == s[i] => {
                    p += 1;
                    i += 1;
                    continue;
                }
                _ => {}
            }
        }
        if star_p != usize::MAX {
            p = star_p + 1;
            star_i += 1;
            i = star_i;
        } else {
            return false;
        }
    }
    while p < pat.len() && pat[p] == '%' {
        p += 1;
    }
    p == pat.len()
}

fn lower_chars(s: &str) -> Vec<char> {
    s.chars().flat_map(char::to_lowercase).collect()
}

fn eval(st: &OrgState, env: &Env, obj: Obj, row: u32, e: &RExpr) -> bool {
    match e {
        RExpr::And(v) => v.iter().all(|e| eval(st, env, obj, row, e)),
        RExpr::Or(v) => v.iter().any(|e| eval(st, env, obj, row, e)),
        RExpr::Not(e) => !eval(st, env, obj, row, e),
        RExpr::Cmp { path, op, val } => {
            let v = eval_path(st, env, obj, row, path);
            match (val, &v) {
                (Value::Null, Value::Null) => matches!(op, Op::Eq),
                (Value::Null, _) => matches!(op, Op::Ne),
                (_, Value::Null) => matches!(op, Op::Ne),
                _ => match cmp_values(&v, val) {
                    Some(o) => match op {
                        Op::Eq => o == Ordering::Equal,
                        Op::Ne => o != Ordering::Equal,
                        Op::Lt => o == Ordering::Less,
                        Op::Le => o != Ordering::Greater,
                        Op::Gt => o == Ordering::Greater,
                        Op::Ge => o != Ordering::Less,
                    },
                    None => matches!(op, Op::Ne),
                },
            }
        }
        RExpr::Range { path, op, lo, hi } => {
            let t = match eval_path(st, env, obj, row, path) {
                Value::DateTime(t) | Value::Date(t) => t,
                _ => return matches!(op, Op::Ne),
            };
            match op {
                Op::Eq => t >= *lo && t < *hi,
                Op::Ne => !(t >= *lo && t < *hi),
                Op::Lt => t < *lo,
                Op::Le => t < *hi,
                Op::Gt => t >= *hi,
                Op::Ge => t >= *lo,
            }
        }
        RExpr::In {
            path,
            negated,
            keys,
            has_null,
        } => {
            let v = eval_path(st, env, obj, row, path);
            let hit = match value_key(&v) {
                Some(k) => keys.contains(&k),
                None => *has_null,
            };
            hit != *negated
        }
        RExpr::Like {
            path,
            pattern,
            negated,
        } => {
            let hit = match eval_path(st, env, obj, row, path) {
                Value::Str(s) | Value::Id(s) => like_match(pattern, &lower_chars(&s)),
                _ => false,
            };
            hit != *negated
        }
    }
}

/// [lo, hi) of a date literal. [C] the org's time zone is taken to be UTC.
pub fn date_range(d: DateLiteral, now: Ts) -> (Ts, Ts) {
    use DateLiteral::*;
    let today = now - now.rem_euclid(DAY);
    let date = Utc
        .timestamp_millis_opt(today)
        .single()
        .unwrap_or_default()
        .date_naive();
    let ms = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map(|x| x.and_utc().timestamp_millis())
            .unwrap_or(0)
    };
    let month_start = |y: i32, m: u32| NaiveDate::from_ymd_opt(y, m, 1).map(ms).unwrap_or(0);
    let add_months = |n: i32| {
        let total = date.year() * 12 + date.month0() as i32 + n;
        month_start(total.div_euclid(12), total.rem_euclid(12) as u32 + 1)
    };
    let week_start = today - (date.weekday().num_days_from_sunday() as i64) * DAY;
    let year_start = |y: i32| NaiveDate::from_ymd_opt(y, 1, 1).map(ms).unwrap_or(0);
    match d {
        Today => (today, today + DAY),
        Yesterday => (today - DAY, today),
        Tomorrow => (today + DAY, today + 2 * DAY),
        LastWeek => (week_start - 7 * DAY, week_start),
        ThisWeek => (week_start, week_start + 7 * DAY),
        NextWeek => (week_start + 7 * DAY, week_start + 14 * DAY),
        LastMonth => (add_months(-1), add_months(0)),
        ThisMonth => (add_months(0), add_months(1)),
        NextMonth => (add_months(1), add_months(2)),
        LastYear => (year_start(date.year() - 1), year_start(date.year())),
        ThisYear => (year_start(date.year()), year_start(date.year() + 1)),
        NextYear => (year_start(date.year() + 1), year_start(date.year() + 2)),
        Last90Days => (today - 90 * DAY, today + DAY),
        Next90Days => (today + DAY, today + 91 * DAY),
        LastNDays(n) => (today - n * DAY, today + DAY),
        NextNDays(n) => (today + DAY, today + (n + 1) * DAY),
        NDaysAgo(n) => (today - n * DAY, today - (n - 1) * DAY),
        LastNWeeks(n) => (week_start - 7 * n * DAY, week_start),
        LastNMonths(n) => (add_months(-(n as i32)), add_months(0)),
    }
}

fn type_name(t: FType) -> &'static str {
    match t {
        FType::DateTime => "dateTime",
        FType::Date => "date",
        FType::Boolean => "boolean",
        FType::Int => "int",
        FType::Double => "double",
        FType::Id | FType::Reference => "id",
        _ => "string",
    }
}

/// Converts a literal to a comparable value for a field, with Salesforce's type errors.
fn lit_value(src: &str, pos: usize, f: &FieldDef, lit: &Lit) -> QResult<Value> {
    let name = f.name;
    let quoted = |should: bool| {
        invalid_field(
            src,
            pos,
            format!(
                "value of filter criterion for field '{name}' must be of type {} and should {}be enclosed in quotes",
                type_name(f.ty),
                if should { "" } else { "not " }
            ),
        )
    };
    Ok(match (f.ty, lit) {
        (_, Lit::Null) => Value::Null,
        (FType::DateTime, Lit::DateTime(t)) => Value::DateTime(*t),
        (FType::Date, Lit::Date(t)) => Value::Date(*t),
        (FType::DateTime | FType::Date, _) => return Err(quoted(false)),
        (FType::Boolean, Lit::Bool(b)) => Value::Bool(*b),
        (FType::Boolean, _) => return Err(quoted(false)),
        (FType::Int, Lit::Num(n)) => {
            if n.fract() == 0.0 {
                Value::Int(*n as i64)
            } else {
                Value::Double(*n)
            }
        }
        (FType::Double, Lit::Num(n)) => Value::Double(*n),
        (FType::Int | FType::Double, _) => return Err(quoted(false)),
        (FType::Id | FType::Reference, Lit::Str(s)) => {
            if !crate::ids::looks_like_id(s) {
                return Err(error_at(
                    src,
                    pos,
                    "INVALID_QUERY_FILTER_OPERATOR",
                    &format!("invalid ID field: {s}"),
                ));
            }
            Value::Id(s.clone())
        }
        (_, Lit::Str(s)) => Value::Str(s.clone()),
        _ => return Err(quoted(true)),
    })
}

struct Planner<'a> {
    src: &'a str,
    st: &'a OrgState,
    env: &'a Env<'a>,
    now: Ts,
}

impl Planner<'_> {
    fn filter_path(&self, obj: Obj, p: &soql::Path) -> QResult<RPath> {
        let rp = resolve_path(self.src, obj, p)?;
        if !rp.field.filterable() {
            return Err(invalid_field(
                self.src,
                p.pos,
                format!(
                    "field '{}' can not be filtered in a query call",
                    rp.field.name
                ),
            ));
        }
        Ok(rp)
    }

    fn expr(&self, obj: Obj, e: &Expr) -> QResult<RExpr> {
        Ok(match e {
            Expr::And(v) => RExpr::And(
                v.iter()
                    .map(|e| self.expr(obj, e))
                    .collect::<QResult<_>>()?,
            ),
            Expr::Or(v) => RExpr::Or(
                v.iter()
                    .map(|e| self.expr(obj, e))
                    .collect::<QResult<_>>()?,
            ),
            Expr::Not(e) => RExpr::Not(Box::new(self.expr(obj, e)?)),
            Expr::Cmp {
                path,
                op,
                lit,
                lit_pos,
            } => {
                let rp = self.filter_path(obj, path)?;
                if let Lit::DateLit(d) = lit {
                    if !rp.field.ty.is_temporal() {
                        return Err(invalid_field(
                            self.src,
                            *lit_pos,
                            format!(
                                "value of filter criterion for field '{}' must be of type {} and should {}be enclosed in quotes",
                                rp.field.name,
                                type_name(rp.field.ty),
                                if matches!(
                                    rp.field.ty,
                                    FType::Int | FType::Double | FType::Boolean
                                ) {
                                    "not "
                                } else {
                                    ""
                                }
                            ),
                        ));
                    }
                    let (lo, hi) = date_range(*d, self.now);
                    return Ok(RExpr::Range {
                        path: rp,
                        op: *op,
                        lo,
                        hi,
                    });
                }
                if matches!(lit, Lit::Null) && !matches!(op, Op::Eq | Op::Ne) {
                    return Err(error_at(
                        self.src,
                        *lit_pos,
                        "MALFORMED_QUERY",
                        "unexpected token: 'null'",
                    ));
                }
                let val = lit_value(self.src, *lit_pos, rp.field, lit)?;
                RExpr::Cmp {
                    path: rp,
                    op: *op,
                    val,
                }
            }
            Expr::In {
                path,
                negated,
                list,
                lit_pos,
            } => {
                let rp = self.filter_path(obj, path)?;
                let mut keys = HashSet::new();
                let mut has_null = false;
                for l in list {
                    let v = lit_value(self.src, *lit_pos, rp.field, l)?;
                    match value_key(&v) {
                        Some(k) => {
                            keys.insert(k);
                        }
                        None => has_null = true,
                    }
                }
                RExpr::In {
                    path: rp,
                    negated: *negated,
                    keys,
                    has_null,
                }
            }
            Expr::InQuery { path, negated, sub } => {
                let rp = self.filter_path(obj, path)?;
                let sub_obj = resolve_object(self.src, sub, self.st, self.env)?;
                let [SelectItem::Field(sp)] = sub.select.as_slice() else {
                    return Err(error_at(
                        self.src,
                        sub.from_pos,
                        "MALFORMED_QUERY",
                        "semi join sub-selects must select exactly one field",
                    ));
                };
                let sub_path = resolve_path(self.src, sub_obj, sp)?;
                let filter = sub
                    .where_
                    .as_ref()
                    .map(|w| self.expr(sub_obj, w))
                    .transpose()?;
                let rows = candidate_rows(self.st, self.env, sub_obj, filter.as_ref());
                let mut keys = HashSet::new();
                for r in rows {
                    if filter
                        .as_ref()
                        .is_none_or(|f| eval(self.st, self.env, sub_obj, r, f))
                        && let Some(k) =
                            value_key(&eval_path(self.st, self.env, sub_obj, r, &sub_path))
                    {
                        keys.insert(k);
                    }
                }
                RExpr::In {
                    path: rp,
                    negated: *negated,
                    keys,
                    has_null: false,
                }
            }
            Expr::Like {
                path,
                pattern,
                negated,
            } => {
                let rp = self.filter_path(obj, path)?;
                RExpr::Like {
                    path: rp,
                    pattern: lower_chars(pattern),
                    negated: *negated,
                }
            }
        })
    }
}

fn resolve_object(src: &str, q: &soql::Query, st: &OrgState, env: &Env) -> QResult<Obj> {
    let unsupported = || {
        error_at(
            src,
            q.from_pos,
            "INVALID_TYPE",
            &format!(
                "sObject type '{}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.",
                q.from
            ),
        )
    };
    let obj = Obj::from_name(&q.from).ok_or_else(unsupported)?;
    let perms = st.users[env.running_user as usize].perms();
    let allowed = match obj {
        Obj::EventLogFile => perms & (perm::VIEW_EVENT_LOGS | perm::VIEW_ALL_DATA) != 0,
        Obj::SetupAuditTrail | Obj::PermissionSet | Obj::PermissionSetAssignment => {
            perms & perm::VIEW_SETUP != 0
        }
        // [C] app metadata objects require Customize Application.
        Obj::ConnectedApplication
        | Obj::ExternalClientApplication
        | Obj::ExtlClntAppOauthPlcyCnfg => perms & perm::CUSTOMIZE_APP != 0,
        _ => true,
    };
    if allowed { Ok(obj) } else { Err(unsupported()) }
}

/// Candidate rows for an object, narrowed by the OauthToken indexes where the
/// top-level conjuncts allow it (CreatedDate range, UserId IN/=), in natural order.
fn candidate_rows(st: &OrgState, env: &Env, obj: Obj, filter: Option<&RExpr>) -> Vec<u32> {
    let perms = st.users[env.running_user as usize].perms();
    match obj {
        Obj::OauthToken => {
            let conj: Vec<&RExpr> = match filter {
                Some(RExpr::And(v)) => v.iter().collect(),
                Some(e) => vec![e],
                None => vec![],
            };
            let (mut lo, mut hi) = (i64::MIN, i64::MAX);
            let mut users: Option<HashSet<u32>> = None;
            for c in conj {
                match c {
                    RExpr::Cmp {
                        path,
                        op,
                        val: Value::DateTime(t),
                    } if path.is_direct("CreatedDate") => match op {
                        Op::Eq => {
                            lo = lo.max(*t);
                            hi = hi.min(t + 1);
                        }
                        Op::Ge => lo = lo.max(*t),
                        Op::Gt => lo = lo.max(t + 1),
                        Op::Lt => hi = hi.min(*t),
                        Op::Le => hi = hi.min(t + 1),
                        Op::Ne => {}
                    },
                    RExpr::Range {
                        path,
                        op,
                        lo: a,
                        hi: b,
                    } if path.is_direct("CreatedDate") => match op {
                        Op::Eq => {
                            lo = lo.max(*a);
                            hi = hi.min(*b);
                        }
                        Op::Ge => lo = lo.max(*a),
                        Op::Gt => lo = lo.max(*b),
                        Op::Lt => hi = hi.min(*a),
                        Op::Le => hi = hi.min(*b),
                        Op::Ne => {}
                    },
                    RExpr::Cmp {
                        path,
                        op: Op::Eq,
                        val: Value::Id(id),
                    } if path.is_direct("UserId") => {
                        let set: HashSet<u32> = crate::ids::parse_id(crate::ids::USER, id)
                            .map(|u| u as u32)
                            .into_iter()
                            .collect();
                        users = Some(match users {
                            Some(u) => u.intersection(&set).copied().collect(),
                            None => set,
                        });
                    }
                    RExpr::In {
                        path,
                        negated: false,
                        keys,
                        ..
                    } if path.is_direct("UserId") => {
                        let set: HashSet<u32> = keys
                            .iter()
                            .filter_map(|k| crate::ids::parse_id(crate::ids::USER, k))
                            .map(|u| u as u32)
                            .collect();
                        users = Some(match users {
                            Some(u) => u.intersection(&set).copied().collect(),
                            None => set,
                        });
                    }
                    _ => {}
                }
            }
            // Visibility: without Customize Application only one's own tokens (silently).
            if perms & perm::CUSTOMIZE_APP == 0 {
                let own: HashSet<u32> = [env.running_user].into_iter().collect();
                users = Some(match users {
                    Some(u) => u.intersection(&own).copied().collect(),
                    None => own,
                });
            }
            let live = |t: &u32| {
                let tok = &st.tokens[*t as usize];
                !tok.revoked && tok.created >= lo && tok.created < hi
            };
            match users {
                Some(set) => {
                    let mut v: Vec<u32> = set
                        .iter()
                        .flat_map(|&u| st.by_user.get(u as usize).into_iter().flatten().copied())
                        .filter(live)
                        .collect();
                    v.sort_unstable_by_key(|&t| (st.tokens[t as usize].created, t));
                    v
                }
                None => {
                    let key = |t: u32| st.tokens[t as usize].created;
                    let a = st.by_created.partition_point(|&t| key(t) < lo);
                    let b = st.by_created.partition_point(|&t| key(t) < hi);
                    st.by_created[a..b.max(a)]
                        .iter()
                        .copied()
                        .filter(|t| !st.tokens[*t as usize].revoked)
                        .collect()
                }
            }
        }
        Obj::LoginHistory if perms & perm::MANAGE_USERS == 0 => (0..st.logins.len() as u32)
            .filter(|&i| st.logins[i as usize].user == env.running_user)
            .collect(),
        _ => schema::all_rows(st, env, obj),
    }
}

fn insert_path(node: &mut Node, rp: &RPath, depth: usize) {
    if depth == rp.hops.len() {
        if !node.entries.iter().any(|(n, _)| n == rp.field.name) {
            node.entries
                .push((rp.field.name.to_string(), Entry::Field(rp.field)));
        }
        return;
    }
    let fk = rp.hops[depth];
    let pos = node
        .entries
        .iter()
        .position(|(n, e)| n == fk.relationship && matches!(e, Entry::Rel(..)));
    let idx = match pos {
        Some(i) => i,
        None => {
            node.entries.push((
                fk.relationship.to_string(),
                Entry::Rel(
                    fk,
                    Node {
                        obj: rp.objs[depth + 1],
                        entries: Vec::new(),
                    },
                ),
            ));
            node.entries.len() - 1
        }
    };
    if let Entry::Rel(_, child) = &mut node.entries[idx].1 {
        insert_path(child, rp, depth + 1);
    }
}

/// Runs a query and returns the first page; later pages come from `next_page`.
pub fn run(st: &OrgState, cursors: &Mutex<Cursors>, env: &Env, req: &Request) -> QResult<String> {
    let src = req.soql;
    let q = soql::parse(src)?;
    let obj = resolve_object(src, &q, st, env)?;
    let planner = Planner {
        src,
        st,
        env,
        now: req.now,
    };

    // SELECT list.
    let mut count_only = false;
    let mut aggregates: Vec<(String, AggFn, Option<RPath>)> = Vec::new();
    let mut plain: Vec<(soql::Path, RPath)> = Vec::new();
    let mut node = Node {
        obj,
        entries: Vec::new(),
    };
    let mut seen = HashSet::new();
    for item in &q.select {
        match item {
            SelectItem::Agg {
                func: AggFn::Count,
                field: None,
                pos,
                ..
            } => {
                if q.select.len() > 1 || !q.group_by.is_empty() {
                    return Err(error_at(
                        src,
                        *pos,
                        "MALFORMED_QUERY",
                        "COUNT() and other fields cannot be selected together",
                    ));
                }
                count_only = true;
            }
            SelectItem::Agg {
                func,
                field,
                alias,
                pos,
            } => {
                let rp = match field {
                    Some(p) => resolve_path(src, obj, p)?,
                    None => {
                        return Err(error_at(
                            src,
                            *pos,
                            "MALFORMED_QUERY",
                            "aggregate function requires a field",
                        ));
                    }
                };
                if matches!(func, AggFn::Sum | AggFn::Avg)
                    && !matches!(rp.field.ty, FType::Int | FType::Double)
                {
                    let op = if *func == AggFn::Sum { "SUM" } else { "AVG" };
                    return Err(invalid_field(
                        src,
                        *pos,
                        format!(
                            "field {} does not support aggregate operator {op}",
                            rp.field.name
                        ),
                    ));
                }
                // [C] implicit names number only the unaliased aggregates: expr0, expr1, ...
                let name = alias.clone().unwrap_or_else(|| {
                    let n = aggregates
                        .iter()
                        .filter(|(n, _, _)| n.starts_with("expr"))
                        .count();
                    format!("expr{n}")
                });
                aggregates.push((name, *func, Some(rp)));
            }
            SelectItem::Field(p) => {
                let rp = resolve_path(src, obj, p)?;
                let key = p.dotted().to_ascii_lowercase();
                if !seen.insert(key) {
                    return Err(error_at(
                        src,
                        p.pos,
                        "MALFORMED_QUERY",
                        &format!("duplicate field selected: {}", p.dotted()),
                    ));
                }
                insert_path(&mut node, &rp, 0);
                plain.push((p.clone(), rp));
            }
        }
    }
    let mut group: Vec<RPath> = Vec::new();
    for g in &q.group_by {
        let rp = resolve_path(src, obj, g)?;
        if rp.field.flags & schema::GRP == 0 {
            return Err(invalid_field(
                src,
                g.pos,
                format!(
                    "field '{}' can not be grouped in a query call",
                    rp.field.name
                ),
            ));
        }
        group.push(rp);
    }
    let grouped = !group.is_empty() || !aggregates.is_empty();
    if grouped {
        for (p, _) in &plain {
            if !q
                .group_by
                .iter()
                .any(|g| g.dotted().eq_ignore_ascii_case(&p.dotted()))
            {
                return Err(error_at(
                    src,
                    p.pos,
                    "MALFORMED_QUERY",
                    &format!(
                        "Field must be grouped or aggregated: {}",
                        p.parts.last().cloned().unwrap_or_default()
                    ),
                ));
            }
        }
    }
    if count_only && !q.order.is_empty() {
        return Err(error_at(
            src,
            q.order[0].path.pos,
            "MALFORMED_QUERY",
            "ORDER BY is not supported with COUNT()",
        ));
    }
    let filter = q
        .where_
        .as_ref()
        .map(|w| planner.expr(obj, w))
        .transpose()?;
    let mut order = Vec::new();
    for k in &q.order {
        let rp = resolve_path(src, obj, &k.path)?;
        if !rp.field.sortable() {
            return Err(invalid_field(
                src,
                k.path.pos,
                format!(
                    "field '{}' can not be sorted in a query call",
                    rp.field.name
                ),
            ));
        }
        if grouped
            && !q
                .group_by
                .iter()
                .any(|g| g.dotted().eq_ignore_ascii_case(&k.path.dotted()))
        {
            return Err(error_at(
                src,
                k.path.pos,
                "MALFORMED_QUERY",
                "Ordered field must be grouped or aggregated",
            ));
        }
        order.push((rp, k.desc, k.nulls_last.unwrap_or(k.desc)));
    }
    if let Some(off) = q.offset
        && off > 2000
        && obj != Obj::OauthToken
    {
        // [C] OauthToken is exempted: the Object Reference recommends LIMIT 2500 OFFSET n for it.
        return Err(error_at(
            src,
            q.from_pos,
            "NUMBER_OUTSIDE_VALID_RANGE",
            "Maximum SOQL offset allowed is 2000",
        ));
    }

    let st_ro: &OrgState = st;
    let candidates = candidate_rows(st_ro, env, obj, filter.as_ref());
    // Natural order already satisfies ORDER BY CreatedDate[, Id] ASC for tokens and Id ASC for
    // the other objects.
    let natural = !grouped
        && match order.as_slice() {
            [] => true,
            // Tokens are stored in CreatedDate order, and their Ids are not.
            [(p, false, _)] if p.is_direct("Id") && obj != Obj::OauthToken => true,
            [(p, false, _)] if obj == Obj::OauthToken && p.is_direct("CreatedDate") => true,
            [(p, false, _), (i, false, _)]
                if obj == Obj::OauthToken && p.is_direct("CreatedDate") && i.is_direct("Id") =>
            {
                true
            }
            _ => false,
        };
    let reversed = !grouped
        && obj == Obj::OauthToken
        && matches!(order.as_slice(), [(p, true, _)] if p.is_direct("CreatedDate"));
    let offset = q.offset.unwrap_or(0) as usize;
    let keep = |r: &u32| filter.as_ref().is_none_or(|f| eval(st_ro, env, obj, *r, f));
    let mut rows: Vec<u32> = if (natural || reversed) && q.limit.is_some() && !count_only {
        // Early exit: only offset + limit matching rows are needed.
        let want = offset.saturating_add(q.limit.unwrap_or(0) as usize);
        if reversed {
            candidates
                .iter()
                .rev()
                .copied()
                .filter(keep)
                .take(want)
                .collect()
        } else {
            candidates.iter().copied().filter(keep).take(want).collect()
        }
    } else {
        let mut v: Vec<u32> = candidates.into_iter().filter(keep).collect();
        if reversed {
            v.reverse();
        }
        v
    };
    if !natural && !reversed && !grouped {
        sort_rows(st_ro, env, obj, &mut rows, &order);
    }

    if grouped {
        return Ok(render_groups(
            st_ro,
            env,
            obj,
            &rows,
            &group,
            &aggregates,
            &order,
            offset,
            q.limit,
        ));
    }
    if offset > 0 {
        rows.drain(..offset.min(rows.len()));
    }
    if let Some(l) = q.limit {
        rows.truncate(l as usize);
    }
    if count_only {
        return Ok(format!(
            "{{\"totalSize\":{},\"done\":true,\"records\":[]}}",
            rows.len()
        ));
    }

    let total = rows.len();
    let batch = if obj == Obj::OauthToken {
        rows.truncate(OAUTH_TOKEN_CAP);
        OAUTH_TOKEN_PAGE
    } else {
        req.batch_hint.unwrap_or(2000).clamp(200, 2000)
    };
    // Cursors keep the row list: drop the spare capacity left by filtering and the cap.
    rows.shrink_to_fit();
    let node = Arc::new(node);
    let rows = Arc::new(rows);
    let mut cursor_id = None;
    if rows.len() > batch {
        let mut cs = cursors.lock().unwrap_or_else(|e| e.into_inner());
        cs.seq += 1;
        let id = crate::ids::make_id(crate::ids::QUERY_CURSOR, cs.seq);
        if cs.map.len() >= MAX_CURSORS
            && let Some(oldest) = cs
                .map
                .iter()
                .min_by_key(|(_, c)| c.last_access)
                .map(|(k, _)| k.clone())
        {
            cs.map.remove(&oldest);
        }
        cs.map.insert(
            id.clone(),
            Cursor {
                obj,
                node: node.clone(),
                rows: rows.clone(),
                total,
                batch,
                last_access: req.now,
                running_user: env.running_user,
            },
        );
        cursor_id = Some(id);
    }
    Ok(render_page(
        st,
        env,
        obj,
        &node,
        &rows,
        total,
        0,
        batch,
        cursor_id.as_deref(),
    ))
}

/// Serves `nextRecordsUrl` locators `{cursorId}-{offset}`.
pub fn next_page(
    st: &OrgState,
    cursors: &Mutex<Cursors>,
    env: &Env,
    locator: &str,
    now: Ts,
) -> Result<String, (u16, &'static str, String)> {
    let bad = || {
        (
            400u16,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator".to_string(),
        )
    };
    let (id, off) = locator.rsplit_once('-').ok_or_else(bad)?;
    let off: usize = off.parse().map_err(|_| bad())?;
    let (obj, node, rows, total, batch) = {
        let mut cs = cursors.lock().unwrap_or_else(|e| e.into_inner());
        let Some(c) = cs.map.get_mut(id) else {
            return Err(bad());
        };
        if now - c.last_access > CURSOR_TTL
            || c.running_user != env.running_user
            || off > c.rows.len()
            || off == 0
        {
            cs.map.remove(id);
            return Err(bad());
        }
        c.last_access = now;
        (c.obj, c.node.clone(), c.rows.clone(), c.total, c.batch)
    };
    Ok(render_page(
        st,
        env,
        obj,
        &node,
        &rows,
        total,
        off,
        batch,
        Some(id),
    ))
}

type OrderSpec = (RPath, bool, bool);

fn compare_keys(a: &[Value], b: &[Value], order: &[OrderSpec]) -> Ordering {
    for (i, (_, desc, nulls_last)) in order.iter().enumerate() {
        let (x, y) = (&a[i], &b[i]);
        let o = match (x, y) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => {
                if *nulls_last {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (_, Value::Null) => {
                if *nulls_last {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            _ => {
                let o = cmp_values(x, y).unwrap_or(Ordering::Equal);
                if *desc { o.reverse() } else { o }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn sort_rows(st: &OrgState, env: &Env, obj: Obj, rows: &mut Vec<u32>, order: &[OrderSpec]) {
    let mut keyed: Vec<(Vec<Value>, u32)> = rows
        .iter()
        .map(|&r| {
            (
                order
                    .iter()
                    .map(|(p, _, _)| eval_path(st, env, obj, r, p))
                    .collect(),
                r,
            )
        })
        .collect();
    keyed.sort_by(|a, b| compare_keys(&a.0, &b.0, order).then(a.1.cmp(&b.1)));
    *rows = keyed.into_iter().map(|(_, r)| r).collect();
}

/// GROUP BY and aggregate functions: AggregateResult records, no query locator.
#[allow(clippy::too_many_arguments)]
fn render_groups(
    st: &OrgState,
    env: &Env,
    obj: Obj,
    rows: &[u32],
    group: &[RPath],
    aggregates: &[(String, AggFn, Option<RPath>)],
    order: &[OrderSpec],
    offset: usize,
    limit: Option<u64>,
) -> String {
    let mut index: HashMap<Vec<Option<String>>, usize> = HashMap::new();
    let mut groups: Vec<(Vec<Value>, Vec<u32>)> = Vec::new();
    if group.is_empty() {
        groups.push((Vec::new(), rows.to_vec()));
    } else {
        for &r in rows {
            let key: Vec<Value> = group
                .iter()
                .map(|p| eval_path(st, env, obj, r, p))
                .collect();
            let k: Vec<Option<String>> = key.iter().map(value_key).collect();
            match index.get(&k) {
                Some(&i) => groups[i].1.push(r),
                None => {
                    index.insert(k, groups.len());
                    groups.push((key, vec![r]));
                }
            }
        }
    }
    if !order.is_empty() {
        let pos: Vec<usize> = order
            .iter()
            .map(|(p, _, _)| {
                group
                    .iter()
                    .position(|g| g.field.name == p.field.name && g.hops.len() == p.hops.len())
                    .unwrap_or(0)
            })
            .collect();
        groups.sort_by(|a, b| {
            let ka: Vec<Value> = pos.iter().map(|&i| a.0[i].clone()).collect();
            let kb: Vec<Value> = pos.iter().map(|&i| b.0[i].clone()).collect();
            compare_keys(&ka, &kb, order)
        });
    }
    let groups: Vec<_> = groups
        .into_iter()
        .skip(offset)
        .take(limit.map(|l| l as usize).unwrap_or(2000).min(2000))
        .collect();
    let mut out = format!(
        "{{\"totalSize\":{},\"done\":true,\"records\":[",
        groups.len()
    );
    for (gi, (key, members)) in groups.iter().enumerate() {
        if gi > 0 {
            out.push(',');
        }
        out.push_str("{\"attributes\":{\"type\":\"AggregateResult\"}");
        for (i, p) in group.iter().enumerate() {
            let _ = write!(out, ",{}:", json_str(p.field.name));
            write_value(&mut out, &key[i]);
        }
        for (name, func, path) in aggregates {
            let _ = write!(out, ",{}:", json_str(name));
            let vals = || {
                members.iter().map(|&r| {
                    path.as_ref()
                        .map(|p| eval_path(st, env, obj, r, p))
                        .unwrap_or(Value::Int(1))
                })
            };
            let v = match func {
                AggFn::Count => Value::Int(vals().filter(|v| *v != Value::Null).count() as i64),
                AggFn::CountDistinct => Value::Int(
                    vals()
                        .filter_map(|v| value_key(&v))
                        .collect::<HashSet<_>>()
                        .len() as i64,
                ),
                AggFn::Min => vals()
                    .filter(|v| *v != Value::Null)
                    .min_by(|a, b| cmp_values(a, b).unwrap_or(Ordering::Equal))
                    .unwrap_or(Value::Null),
                AggFn::Max => vals()
                    .filter(|v| *v != Value::Null)
                    .max_by(|a, b| cmp_values(a, b).unwrap_or(Ordering::Equal))
                    .unwrap_or(Value::Null),
                AggFn::Sum | AggFn::Avg => {
                    let nums: Vec<f64> = vals()
                        .filter_map(|v| match v {
                            Value::Int(i) => Some(i as f64),
                            Value::Double(d) => Some(d),
                            _ => None,
                        })
                        .collect();
                    if nums.is_empty() {
                        Value::Null
                    } else if *func == AggFn::Sum {
                        Value::Double(nums.iter().sum())
                    } else {
                        Value::Double(nums.iter().sum::<f64>() / nums.len() as f64)
                    }
                }
            };
            write_value(&mut out, &v);
        }
        out.push('}');
    }
    out.push_str("]}");
    out
}

#[allow(clippy::too_many_arguments)]
fn render_page(
    st: &OrgState,
    env: &Env,
    obj: Obj,
    node: &Node,
    rows: &[u32],
    total: usize,
    offset: usize,
    batch: usize,
    cursor: Option<&str>,
) -> String {
    let end = (offset + batch).min(rows.len());
    let done = end >= rows.len();
    let mut out = String::with_capacity(64 + (end - offset) * 320);
    let _ = write!(out, "{{\"totalSize\":{total},\"done\":{done},");
    if !done && let Some(c) = cursor {
        let _ = write!(
            out,
            "\"nextRecordsUrl\":\"/services/data/v{}/query/{c}-{end}\",",
            env.version
        );
    }
    out.push_str("\"records\":[");
    for (i, &r) in rows[offset..end].iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        render_record(&mut out, st, env, obj, r, node);
    }
    out.push_str("]}");
    out
}

pub fn render_record(out: &mut String, st: &OrgState, env: &Env, obj: Obj, row: u32, node: &Node) {
    let _ = write!(out, "{{\"attributes\":{{\"type\":\"{}\"", obj.name());
    let id = match schema::value(st, env, obj, row, "Id") {
        Value::Id(s) => s,
        _ => String::new(),
    };
    if !id.is_empty() {
        let _ = write!(
            out,
            ",\"url\":\"/services/data/v{}/sobjects/{}/{}\"",
            env.version,
            obj.name(),
            id
        );
    }
    out.push('}');
    for (name, e) in &node.entries {
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":");
        match e {
            Entry::Field(f) => write_value(out, &schema::value(st, env, obj, row, f.name)),
            Entry::Rel(fk, child) => match schema::follow(st, obj, row, fk.name) {
                Some((o, r)) => render_record(out, st, env, o, r, child),
                None => out.push_str("null"),
            },
        }
    }
    out.push('}');
}

pub fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Str(s) | Value::Id(s) => write_json_str(out, s),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Double(d) => {
            let _ = write!(out, "{d:?}");
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::DateTime(t) => {
            out.push('"');
            out.push_str(&sf_datetime(*t));
            out.push('"');
        }
        Value::Date(t) => {
            out.push('"');
            out.push_str(&sf_datetime(*t)[..10]);
            out.push('"');
        }
    }
}

/// Salesforce JSON datetime: `2026-04-06T16:00:00.000+0000`.
pub fn sf_datetime(ms: Ts) -> String {
    let dt = Utc.timestamp_millis_opt(ms).single().unwrap_or_default();
    let d = dt.date_naive();
    let secs = ms.rem_euclid(DAY) / 1000;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        d.year(),
        d.month(),
        d.day(),
        secs / 3600,
        (secs / 60) % 60,
        secs % 60,
        ms.rem_euclid(1000)
    )
}

pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    write_json_str(&mut o, s);
    o
}

pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        let m = |p: &str, s: &str| like_match(&lower_chars(p), &lower_chars(s));
        assert!(m("dr%", "Drift"));
        assert!(m("%ift", "Drift"));
        assert!(m("d_ift", "Drift"));
        assert!(!m("d_ft", "Drift"));
        assert!(m("%", ""));
        assert!(m("100\\%", "100%"));
        assert!(!m("100\\%", "1000"));
    }

    #[test]
    fn date_ranges() {
        // 2026-03-15T12:00:00Z is a Sunday.
        let now = 1_773_576_000_000;
        let today = now - now % DAY;
        assert_eq!(date_range(DateLiteral::Today, now), (today, today + DAY));
        assert_eq!(
            date_range(DateLiteral::LastNDays(7), now),
            (today - 7 * DAY, today + DAY)
        );
        assert_eq!(date_range(DateLiteral::ThisWeek, now).0, today);
        let (lo, hi) = date_range(DateLiteral::LastMonth, now);
        assert_eq!(sf_datetime(lo), "2026-02-01T00:00:00.000+0000");
        assert_eq!(sf_datetime(hi), "2026-03-01T00:00:00.000+0000");
    }

    #[test]
    fn datetime_format() {
        assert_eq!(
            sf_datetime(1_767_225_600_123),
            "2026-01-01T00:00:00.123+0000"
        );
    }
}
