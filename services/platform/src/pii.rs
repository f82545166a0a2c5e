//! Masking of personal data: phone numbers and e-mail addresses are never
//! shown (or logged) whole to someone who may not see them.

/// Masks a phone number, keeping the first three and last four digits
/// (`13812345678` → `138****5678`); short numbers keep only the last two.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    let n = chars.len();
    if n >= 8 {
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[n - 4..].iter().collect();
        format!("{head}{}{tail}", "*".repeat(n - 7))
    } else if n > 2 {
        let tail: String = chars[n - 2..].iter().collect();
        format!("{}{tail}", "*".repeat(n - 2))
    } else {
        "*".repeat(n)
    }
}

/// Masks an e-mail address, keeping the first character of the local part
/// and the domain (`zhang.wei@example.com` → `z***@example.com`).
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None if email.is_empty() => String::new(),
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_keeps_head_and_tail_only() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("1234"), "**34");
        assert!(!mask_phone("+8613812345678").contains("1234"));
    }

    #[test]
    fn email_keeps_first_letter_and_domain() {
        assert_eq!(mask_email("zhang.wei@example.com"), "z***@example.com");
        assert_eq!(mask_email("不是邮箱"), "***");
        assert_eq!(mask_email(""), "");
    }
}
