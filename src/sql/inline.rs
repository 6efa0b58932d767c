//! A statement with its parameters written into the text as literals, for an adapter that sends
//! it with Postgres' simple query protocol (the Worker: the transaction, the statement, the
//! deadline guard and COMMIT as one message, and no extended-protocol type machinery in the wasm).
//!
//! Every parameter becomes an escape-string literal, `E'…'` with `\` and `'` escaped, or `NULL`:
//! an `E''` string means the same whatever `standard_conforming_strings` is, so a value can never
//! end its literal early. The statements cast every parameter where its type matters (`$2::int`),
//! so a literal there means what a text parameter meant. A NUL character cannot be in a Postgres
//! text value at all (and would end the message): it is refused as Postgres refuses it (22021).

use crate::sql::failure::DbFailure;
use crate::sql::statement::Statement;

/// The literal a parameter becomes.
pub fn literal(value: Option<&str>) -> Result<String, DbFailure> {
    let Some(text) = value else {
        return Ok("NULL".to_string());
    };
    if text.contains('\0') {
        return Err(DbFailure {
            sqlstate: Some("22021".into()),
            message: "a parameter contains a NUL character, which no Postgres text value can hold".into(),
        });
    }
    let mut out = String::with_capacity(text.len() + 3);
    out.push_str("E'");
    for c in text.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    Ok(out)
}

/// The statement's SQL with each `$n` (outside string literals) replaced by its parameter's
/// literal. A `$n` with no parameter is left as it is (Postgres then refuses the statement).
pub fn inline(statement: &Statement) -> Result<String, DbFailure> {
    let literals =
        statement.params.iter().map(|param| literal(param.as_deref())).collect::<Result<Vec<_>, DbFailure>>()?;
    let sql = statement.sql;
    let mut out = String::with_capacity(sql.len() + literals.iter().map(String::len).sum::<usize>());
    let mut in_literal = false;
    let mut rest = sql;
    while let Some(c) = rest.chars().next() {
        if c == '\'' {
            in_literal = !in_literal;
        }
        if c == '$' && !in_literal {
            let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
            let number: Option<usize> = rest[1..1 + digits].parse().ok();
            if let Some(value) = number.and_then(|n| n.checked_sub(1)).and_then(|index| literals.get(index)) {
                out.push_str(value);
                rest = &rest[1 + digits..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn parameters_become_escaped_literals_and_nothing_else_changes() {
        let mut statement = Statement::new("SELECT $1::text, $2, $10, '$1 stays', $3 || 'x''$2'");
        statement = statement.param("a'b\\c").optional(None::<&str>).param("é");
        for n in 4..=10 {
            statement = statement.param(n);
        }
        assert_eq!(inline(&statement).unwrap(), r"SELECT E'a\'b\\c'::text, NULL, E'10', '$1 stays', E'é' || 'x''$2'");
    }

    #[test]
    fn a_value_cannot_end_its_literal() {
        for hostile in ["'; DROP TABLE users; --", "\\'; SELECT 1; --", "\\", "'", "''", "\\\\'"] {
            let text = literal(Some(hostile)).unwrap();
            // Between E' and the final ', every ' is preceded by an odd run of backslashes.
            let body = &text[2..text.len() - 1];
            let bytes = body.as_bytes();
            for (at, byte) in bytes.iter().enumerate() {
                if *byte == b'\'' {
                    let backslashes = bytes[..at].iter().rev().take_while(|b| **b == b'\\').count();
                    assert_eq!(backslashes % 2, 1, "{hostile:?} → {text}");
                }
            }
            let trailing = bytes.iter().rev().take_while(|b| **b == b'\\').count();
            assert_eq!(trailing % 2, 0, "{hostile:?} → {text}: a trailing escape would eat the closing quote");
        }
        assert_eq!(literal(Some("a\0b")).unwrap_err().sqlstate.as_deref(), Some("22021"));
    }
}
