//! `notify`: the routes a rule's alerts go to, checked against the configured routes.

use super::*;

impl Validator<'_, '_, '_> {
    pub(super) fn notify(&mut self, r: &RawRule, scope: Scope) -> Vec<String> {
        let mut out = Vec::new();
        let Some(list) = &r.notify else {
            self.warn(
                &r.name,
                "notify",
                "no `notify`: this rule's alerts are recorded but nobody is told",
            );
            return out;
        };
        for (i, n) in list.iter().enumerate() {
            let field = format!("notify[{i}]");
            let name = n.get_ref().as_str();
            match name {
                "owners" if !matches!(scope, Scope::Port | Scope::ProductLine) => {
                    self.err(
                        n,
                        &field,
                        "`owners` are a product line's: use it with scope port or product_line",
                    );
                }
                "account_manager" if !matches!(scope, Scope::Port | Scope::Customer) => {
                    self.err(
                        n,
                        &field,
                        "`account_manager` is a customer's: use it with scope port or customer",
                    );
                }
                _ if SPECIAL_ROUTES.contains(&name) => {}
                _ if !self.topology.routes.contains_key(name) => {
                    let known: Vec<&str> = self
                        .topology
                        .routes
                        .keys()
                        .map(String::as_str)
                        .chain(SPECIAL_ROUTES)
                        .collect();
                    self.err(
                        n,
                        &field,
                        format!("unknown route `{name}`; known: {}", known.join(", ")),
                    );
                }
                _ => {}
            }
            if !out.iter().any(|x| x == name) {
                out.push(name.to_string());
            }
        }
        out
    }
}
