//! `[[route]]`: named audiences and their email addresses.

use super::*;

impl Builder<'_, '_> {
    pub(super) fn routes(&mut self) -> BTreeMap<String, Route> {
        let raws: Vec<document::Element<RawRoute>> = self.doc.array_of_tables("route");
        let mut seen = HashMap::new();
        let mut out = BTreeMap::new();
        for el in raws {
            let key = format!("route[{}]", el.index);
            if !self.unique(&mut seen, "route", &el.value.name, &format!("{key}.name")) {
                continue;
            }
            let mut email = Vec::new();
            for (i, addr) in el.value.email.iter().enumerate() {
                let a = addr.get_ref().trim();
                if !valid_address(a) {
                    self.doc.error(
                        Some(addr.span()),
                        &format!("{key}.email[{i}]"),
                        format!("`{a}` is not an email address"),
                    );
                } else {
                    email.push(a.to_string());
                }
            }
            let name = el.value.name.into_inner();
            out.insert(name.clone(), Route { name, email });
        }
        out
    }
}
