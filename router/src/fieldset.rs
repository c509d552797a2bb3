//! Field sets of `@key`, `@requires` and `@provides`: `id`, `id org { id }`,
//! `... on Book { isbn }`.

/// One selection of a field set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSetItem {
    Field { name: String, sub: FieldSet },
    Fragment { on: String, sub: FieldSet },
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSet(pub Vec<FieldSetItem>);

impl FieldSet {
    pub fn parse(source: &str) -> Result<Self, String> {
        let tokens = tokenize(source)?;
        let mut position = 0;
        let set = parse_items(&tokens, &mut position)?;
        if position != tokens.len() {
            return Err(format!("unexpected `{}`", tokens[position]));
        }
        Ok(set)
    }

    /// Field names at the top level (fragments included).
    pub fn top_fields(&self) -> Vec<&str> {
        let mut names = Vec::new();
        for item in &self.0 {
            match item {
                FieldSetItem::Field { name, .. } => names.push(name.as_str()),
                FieldSetItem::Fragment { sub, .. } => names.extend(sub.top_fields()),
            }
        }
        names
    }
}

fn tokenize(source: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut chars = source.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || c == ',' {
            chars.next();
        } else if c == '{' || c == '}' {
            tokens.push(c.to_string());
            chars.next();
        } else if c == '.' {
            let dots: String = chars.by_ref().take(3).collect();
            if dots != "..." {
                return Err("expected `...`".into());
            }
            tokens.push(dots);
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push(name);
        } else {
            return Err(format!("unexpected character `{c}`"));
        }
    }
    Ok(tokens)
}

fn parse_items(tokens: &[String], position: &mut usize) -> Result<FieldSet, String> {
    let mut items = Vec::new();
    while let Some(token) = tokens.get(*position) {
        match token.as_str() {
            "}" => break,
            "..." => {
                *position += 1;
                if tokens.get(*position).map(String::as_str) != Some("on") {
                    return Err("expected `on` after `...`".into());
                }
                let on = tokens.get(*position + 1).ok_or("expected a type after `on`")?.clone();
                *position += 2;
                let sub = parse_block(tokens, position)?.ok_or("expected `{` after the type condition")?;
                items.push(FieldSetItem::Fragment { on, sub });
            }
            "{" => return Err("unexpected `{`".into()),
            name => {
                *position += 1;
                let sub = parse_block(tokens, position)?.unwrap_or_default();
                items.push(FieldSetItem::Field { name: name.to_owned(), sub });
            }
        }
    }
    Ok(FieldSet(items))
}

fn parse_block(tokens: &[String], position: &mut usize) -> Result<Option<FieldSet>, String> {
    if tokens.get(*position).map(String::as_str) != Some("{") {
        return Ok(None);
    }
    *position += 1;
    let inner = parse_items(tokens, position)?;
    if tokens.get(*position).map(String::as_str) != Some("}") {
        return Err("expected `}`".into());
    }
    *position += 1;
    Ok(Some(inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_fragment_field_sets_parse() {
        let set = FieldSet::parse("id organization { id } ... on Book { isbn }").expect("parses");
        assert_eq!(set.top_fields(), vec!["id", "organization", "isbn"]);
        assert!(FieldSet::parse("id {").is_err());
        assert!(FieldSet::parse("... Book { x }").is_err());
    }
}
