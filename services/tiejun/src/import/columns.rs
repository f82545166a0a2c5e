//! Which column of the spreadsheet is which field of a lead, by its header:
//! the proto's field names or the headings a Chinese CRM export uses.

use tiejun_proto::leads::v1::LeadInput;

/// A field of [`LeadInput`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    CompanyName,
    ContactName,
    Phone,
    Email,
    City,
    Industry,
    Source,
    Score,
}

impl Field {
    /// Every field, with the headers that name it (compared trimmed and
    /// case-insensitively) and whether a file must have it.
    pub const ALL: [(Field, &'static [&'static str], bool); 8] = [
        (
            Field::CompanyName,
            &["company_name", "company", "公司名称", "公司", "企业名称"],
            true,
        ),
        (
            Field::ContactName,
            &["contact_name", "contact", "联系人", "联系人姓名"],
            true,
        ),
        (
            Field::Phone,
            &["phone", "mobile", "电话", "手机", "手机号", "联系电话"],
            true,
        ),
        (Field::Email, &["email", "e-mail", "邮箱", "电子邮箱"], false),
        (Field::City, &["city", "城市"], true),
        (Field::Industry, &["industry", "行业"], false),
        (Field::Source, &["source", "来源", "线索来源"], false),
        (Field::Score, &["score", "评分", "分数"], false),
    ];

    fn of_header(header: &str) -> Option<Field> {
        let header = header.trim().trim_start_matches('\u{feff}').to_lowercase();
        Self::ALL
            .iter()
            .find(|(_, names, _)| names.contains(&header.as_str()))
            .map(|(field, ..)| *field)
    }
}

/// The file's columns: which index holds which field.
#[derive(Debug, Clone)]
pub struct Columns {
    fields: Vec<(Field, usize)>,
    /// Headers that name no field (ignored, and reported).
    pub ignored: Vec<String>,
}

impl Columns {
    /// The columns named by `headers`, or what is missing.
    pub fn of(headers: &csv::StringRecord) -> anyhow::Result<Self> {
        let mut fields = Vec::new();
        let mut ignored = Vec::new();
        for (i, header) in headers.iter().enumerate() {
            match Field::of_header(header) {
                Some(field) if fields.iter().any(|(f, _)| *f == field) => {
                    anyhow::bail!("two columns are {header:?}'s field; keep one")
                }
                Some(field) => fields.push((field, i)),
                None if header.trim().is_empty() => {}
                None => ignored.push(header.trim().to_owned()),
            }
        }
        let missing: Vec<&str> = Field::ALL
            .iter()
            .filter(|(field, _, required)| *required && !fields.iter().any(|(f, _)| f == field))
            .map(|(_, names, _)| names[0])
            .collect();
        if !missing.is_empty() {
            anyhow::bail!(
                "the header row lacks {} (found: {}); each may also be named in Chinese, e.g. 公司名称, 联系人, 电话, 城市",
                missing.join(", "),
                headers.iter().collect::<Vec<_>>().join(", ")
            );
        }
        Ok(Self { fields, ignored })
    }

    /// One record as a lead, or why it cannot be one (before the service
    /// sees it: only what a CSV cell cannot say, such as a score that is
    /// not a number; the service judges the rest).
    pub fn lead(&self, record: &csv::StringRecord) -> Result<LeadInput, String> {
        let mut lead = LeadInput::default();
        for &(field, i) in &self.fields {
            let cell = record.get(i).unwrap_or("").trim().to_owned();
            match field {
                Field::CompanyName => lead.company_name = cell,
                Field::ContactName => lead.contact_name = cell,
                Field::Phone => lead.phone = cell,
                Field::Email => lead.email = cell,
                Field::City => lead.city = cell,
                Field::Industry => lead.industry = cell,
                Field::Source => lead.source = cell,
                Field::Score if cell.is_empty() => lead.score = 0,
                Field::Score => {
                    lead.score = cell
                        .parse()
                        .map_err(|_| format!("score: {cell:?} is not a whole number"))?;
                }
            }
        }
        Ok(lead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cells: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(cells.to_vec())
    }

    #[test]
    fn chinese_and_english_headers_name_the_same_fields() {
        let columns =
            Columns::of(&record(&["\u{feff}公司名称", "联系人", "手机", "城市", "评分", "备注"])).expect("columns");
        assert_eq!(columns.ignored, ["备注"]);
        let lead = columns
            .lead(&record(&["杭州纺织", "王经理", " 13800000001 ", "杭州", "80", "x"]))
            .expect("lead");
        assert_eq!(
            (
                lead.company_name.as_str(),
                lead.phone.as_str(),
                lead.city.as_str(),
                lead.score
            ),
            ("杭州纺织", "13800000001", "杭州", 80)
        );
        let english = Columns::of(&record(&["Company_Name", "contact", "phone", "city"])).expect("columns");
        assert_eq!(
            english.lead(&record(&["A", "B", "1", "C"])).expect("lead").company_name,
            "A"
        );
    }

    #[test]
    fn a_missing_required_column_is_named_and_a_bad_score_is_the_rows_alone() {
        let err = Columns::of(&record(&["company_name", "city"])).expect_err("missing");
        assert!(err.to_string().contains("contact_name, phone"), "{err}");
        let columns =
            Columns::of(&record(&["company_name", "contact_name", "phone", "city", "score"])).expect("columns");
        let bad = columns
            .lead(&record(&["A", "B", "1", "C", "high"]))
            .expect_err("bad score");
        assert!(bad.contains("score"), "{bad}");
        // A short row reads its missing cells as empty.
        assert_eq!(columns.lead(&record(&["A"])).expect("short").city, "");
    }
}
