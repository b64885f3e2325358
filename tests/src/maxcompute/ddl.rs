//! `CREATE TABLE` as SQL instances run it, for the DDL PyODPS 0.13.2 sends
//! (`Table.gen_create_table_sql`: back-quoted names with doubled back quotes, `NOT NULL`,
//! `COMMENT '…'` with backslash escapes, `PARTITIONED BY (…)`, `LIFECYCLE n`) and arrowport
//! sends (the same spelling):
//!
//! ```sql
//! CREATE TABLE [IF NOT EXISTS] [project.][schema.]`t` (
//!   `id` bigint NOT NULL COMMENT 'the key',
//!   `tags` map<string,bigint>
//! )
//! COMMENT 'a table'
//! PARTITIONED BY (
//!   `pt` string
//! )
//! LIFECYCLE 7
//! ```
//!
//! A table that exists fails the task (`ODPS-0110061 … already exists`) unless `IF NOT EXISTS`
//! is given, in which case nothing changes — whatever the existing table's columns are, as
//! MaxCompute does.

use super::Shared;
use super::tables::{ColumnDef, TableDef, arrow_type};

/// Types MaxCompute allows as partition keys.
const PARTITION_KEY_TYPES: &[&str] = &[
    "string", "bigint", "int", "smallint", "tinyint", "varchar", "char",
];

/// Runs a `CREATE TABLE` statement: `Ok` with the task's result text, or its `ODPS-…` error.
pub(crate) fn create_table(shared: &Shared, statement: &str) -> Result<String, String> {
    let parse_error = |what: String| format!("ODPS-0130161:[1,1] Parse exception - {what}");
    let create = Create::parse(statement).map_err(parse_error)?;
    let project = &shared.config.project;
    if let Some(p) = &create.project
        && p != project
    {
        return Err(format!(
            "ODPS-0130131:[1,1] Table not found - project {p} cannot be resolved"
        ));
    }
    let mut names: Vec<&str> = create.columns.iter().map(|c| c.name.as_str()).collect();
    names.extend(create.partition_keys.iter().map(|(n, _)| n.as_str()));
    for (i, name) in names.iter().enumerate() {
        if names[..i].iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(format!(
                "ODPS-0130071:[1,1] Semantic analysis exception - column {name} is repeated"
            ));
        }
    }
    if create.columns.is_empty() {
        return Err(parse_error("a table needs at least one column".into()));
    }
    for c in &create.columns {
        if arrow_type(&c.odps_type).is_none() {
            return Err(format!(
                "ODPS-0130071:[1,1] Semantic analysis exception - column {} has type {}, \
                 which the emulator does not store",
                c.name, c.odps_type
            ));
        }
    }
    for (name, ty) in &create.partition_keys {
        let base = ty.split('(').next().unwrap_or_default();
        if !PARTITION_KEY_TYPES.contains(&base) {
            return Err(format!(
                "ODPS-0130071:[1,1] Semantic analysis exception - partition column {name} \
                 cannot be of type {ty}"
            ));
        }
    }
    let name = create.table.clone();
    let if_not_exists = create.if_not_exists;
    let table = TableDef::created(
        &create.table,
        &create.comment,
        create.lifecycle,
        create.columns,
        create.partition_keys,
    )
    .map_err(|m| format!("ODPS-0130071:[1,1] Semantic analysis exception - {m}"))?;
    match shared.add_table(table) {
        true => Ok("OK".into()),
        false if if_not_exists => Ok("OK".into()),
        false => Err(format!(
            "ODPS-0110061:Failed to run ddltask - Table or view already exists - table \
             {project}.{name}"
        )),
    }
}

/// A parsed `CREATE TABLE`.
#[derive(Debug)]
struct Create {
    if_not_exists: bool,
    project: Option<String>,
    table: String,
    columns: Vec<ColumnDef>,
    comment: String,
    partition_keys: Vec<(String, String)>,
    lifecycle: i64,
}

impl Create {
    fn parse(sql: &str) -> Result<Create, String> {
        let mut t = Tokens::new(sql)?;
        t.keywords(&["create", "table"])?;
        let if_not_exists = t.try_keywords(&["if", "not", "exists"]);
        let mut path = vec![t.name()?];
        while t.eat_punct('.') {
            path.push(t.name()?);
        }
        let table = path.pop().expect("one name at least");
        let project = path.first().cloned();
        let columns = t
            .column_list()?
            .into_iter()
            .map(|c| ColumnDef::created(c.name, c.ty, c.nullable, c.comment))
            .collect();
        let mut create = Create {
            if_not_exists,
            project,
            table,
            columns,
            comment: String::new(),
            partition_keys: Vec::new(),
            lifecycle: -1,
        };
        while !t.done() {
            if t.try_keywords(&["comment"]) {
                create.comment = t.string()?;
            } else if t.try_keywords(&["partitioned", "by"]) {
                create.partition_keys = t
                    .column_list()?
                    .into_iter()
                    .map(|c| (c.name, c.ty))
                    .collect();
            } else if t.try_keywords(&["lifecycle"]) {
                let n = t.word()?;
                create.lifecycle = n
                    .parse::<i64>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("LIFECYCLE must be a positive number, got {n}"))?;
            } else {
                return Err(format!(
                    "the emulator does not understand `{}` in CREATE TABLE",
                    t.rest()
                ));
            }
        }
        Ok(create)
    }
}

/// A column as DDL declares it.
struct ColumnSpec {
    name: String,
    ty: String,
    nullable: bool,
    comment: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A bare word: a keyword, a type name, a number.
    Word(String),
    /// A back-quoted name.
    Quoted(String),
    /// A `'…'` string literal, unescaped.
    Str(String),
    Punct(char),
}

struct Tokens {
    tokens: Vec<Token>,
    at: usize,
}

impl Tokens {
    fn new(sql: &str) -> Result<Tokens, String> {
        let mut tokens = Vec::new();
        let mut chars = sql.trim().trim_end_matches(';').chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                c if c.is_whitespace() => {}
                '`' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('`') if chars.peek() == Some(&'`') => {
                                chars.next();
                                name.push('`');
                            }
                            Some('`') => break,
                            Some(c) => name.push(c),
                            None => return Err("unterminated `name`".into()),
                        }
                    }
                    tokens.push(Token::Quoted(name));
                }
                '\'' | '"' => {
                    let mut text = String::new();
                    loop {
                        match chars.next() {
                            Some('\\') => text.push(match chars.next() {
                                Some('n') => '\n',
                                Some('t') => '\t',
                                Some('r') => '\r',
                                Some('b') => '\u{8}',
                                Some('0') => '\0',
                                Some(other) => other,
                                None => return Err("unterminated string".into()),
                            }),
                            Some(q) if q == c => break,
                            Some(other) => text.push(other),
                            None => return Err("unterminated string".into()),
                        }
                    }
                    tokens.push(Token::Str(text));
                }
                c if c.is_alphanumeric() || c == '_' || c == '-' => {
                    let mut word = String::from(c);
                    while let Some(&n) = chars.peek() {
                        if !(n.is_alphanumeric() || n == '_') {
                            break;
                        }
                        word.push(n);
                        chars.next();
                    }
                    tokens.push(Token::Word(word));
                }
                c => tokens.push(Token::Punct(c)),
            }
        }
        Ok(Tokens { tokens, at: 0 })
    }

    fn done(&self) -> bool {
        self.at >= self.tokens.len()
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn rest(&self) -> String {
        self.tokens[self.at.min(self.tokens.len())..]
            .iter()
            .take(4)
            .map(|t| match t {
                Token::Word(w) | Token::Quoted(w) | Token::Str(w) => w.clone(),
                Token::Punct(c) => c.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn is_keyword(&self, offset: usize, keyword: &str) -> bool {
        matches!(self.tokens.get(self.at + offset), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn try_keywords(&mut self, keywords: &[&str]) -> bool {
        let all = keywords
            .iter()
            .enumerate()
            .all(|(i, k)| self.is_keyword(i, k));
        if all {
            self.at += keywords.len();
        }
        all
    }

    fn keywords(&mut self, keywords: &[&str]) -> Result<(), String> {
        if self.try_keywords(keywords) {
            Ok(())
        } else {
            Err(format!("expected `{}`", keywords.join(" ").to_uppercase()))
        }
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if self.peek() == Some(&Token::Punct(c)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect_punct(&mut self, c: char) -> Result<(), String> {
        if self.eat_punct(c) {
            Ok(())
        } else {
            Err(format!("expected `{c}` before `{}`", self.rest()))
        }
    }

    fn word(&mut self) -> Result<String, String> {
        match self.peek().cloned() {
            Some(Token::Word(w)) => {
                self.at += 1;
                Ok(w)
            }
            _ => Err(format!("expected a word before `{}`", self.rest())),
        }
    }

    /// A name, back-quoted or bare.
    fn name(&mut self) -> Result<String, String> {
        match self.peek().cloned() {
            Some(Token::Word(w) | Token::Quoted(w)) => {
                self.at += 1;
                Ok(w)
            }
            _ => Err(format!("expected a name before `{}`", self.rest())),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        match self.peek().cloned() {
            Some(Token::Str(s)) => {
                self.at += 1;
                Ok(s)
            }
            _ => Err(format!("expected a '…' string before `{}`", self.rest())),
        }
    }

    /// A type, spelled back without spaces (`decimal(18,2)`, `map<string,array<bigint>>`):
    /// everything up to a `,` or `)` outside brackets, or a column option.
    fn type_text(&mut self) -> Result<String, String> {
        let mut text = String::new();
        let mut depth = 0i32;
        while let Some(token) = self.peek().cloned() {
            match &token {
                Token::Punct(',' | ')') if depth == 0 => break,
                Token::Word(w)
                    if depth == 0
                        && (w.eq_ignore_ascii_case("not") || w.eq_ignore_ascii_case("comment")) =>
                {
                    break;
                }
                Token::Punct(c @ ('<' | '(')) => {
                    depth += 1;
                    text.push(*c);
                }
                Token::Punct(c @ ('>' | ')')) => {
                    depth -= 1;
                    text.push(*c);
                }
                Token::Punct(c) => text.push(*c),
                Token::Word(w) => text.push_str(&w.to_ascii_lowercase()),
                Token::Quoted(w) => text.push_str(w),
                Token::Str(_) => return Err("a string inside a type".into()),
            }
            self.at += 1;
        }
        if text.is_empty() || depth != 0 {
            return Err(format!("expected a type before `{}`", self.rest()));
        }
        Ok(text)
    }

    /// `( name type [NOT NULL] [COMMENT '…'], … )`.
    fn column_list(&mut self) -> Result<Vec<ColumnSpec>, String> {
        self.expect_punct('(')?;
        let mut columns = Vec::new();
        loop {
            let name = self.name()?;
            let ty = self.type_text()?;
            let nullable = !self.try_keywords(&["not", "null"]);
            let comment = match self.try_keywords(&["comment"]) {
                true => self.string()?,
                false => String::new(),
            };
            columns.push(ColumnSpec {
                name,
                ty,
                nullable,
                comment,
            });
            if !self.eat_punct(',') {
                break;
            }
        }
        self.expect_punct(')')?;
        Ok(columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_pyodps_sends() {
        let sql = "CREATE TABLE IF NOT EXISTS emu_project.`we``ird` (\n  `id` bigint NOT NULL \
                   COMMENT 'it\\'s the key',\n  `m` map<string,array<bigint>>,\n  `d` \
                   decimal(18, 2),\n  `s` struct<a:bigint,`b c`:string>\n)\nCOMMENT 'a \
                   table'\nPARTITIONED BY (\n  `pt` string\n)\nLIFECYCLE 7\n";
        let c = Create::parse(sql).unwrap();
        assert!(c.if_not_exists);
        assert_eq!(c.project.as_deref(), Some("emu_project"));
        assert_eq!(c.table, "we`ird");
        let cols: Vec<(&str, &str, bool, &str)> = c
            .columns
            .iter()
            .map(|c| (&*c.name, &*c.odps_type, c.nullable, &*c.comment))
            .collect();
        assert_eq!(
            cols,
            [
                ("id", "bigint", false, "it's the key"),
                ("m", "map<string,array<bigint>>", true, ""),
                ("d", "decimal(18,2)", true, ""),
                ("s", "struct<a:bigint,b c:string>", true, ""),
            ]
        );
        assert_eq!(c.comment, "a table");
        assert_eq!(c.partition_keys, [("pt".into(), "string".into())]);
        assert_eq!(c.lifecycle, 7);
    }

    #[test]
    fn rejects_what_it_does_not_understand() {
        for bad in [
            "CREATE TABLE t",
            "CREATE TABLE t ()",
            "CREATE TABLE t (a bigint) STORED AS ORC",
            "CREATE TABLE t (a bigint) LIFECYCLE x",
            "CREATE TABLE t (a map<string,bigint)",
            "CREATE VIEW v AS SELECT 1",
        ] {
            assert!(Create::parse(bad).is_err(), "{bad}");
        }
    }
}
