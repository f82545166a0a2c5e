//! `AccountService`: free members and the accounts made from converted leads.
//! An account-scoped token (`account_id`) reads only its own account; phone
//! and e-mail are shown whole to billing staff and to the account itself.

use tiejun_platform::{
    auth::{Principal, Role},
    clock::to_proto,
    error::Error,
    idempotency,
    paging::Page,
    pii,
};
use tiejun_proto::billing::v1::{
    Account, AccountKind, CreateAccountFromLeadRequest, CreateAccountFromLeadResponse, GetAccountRequest,
    GetAccountResponse, ListAccountsRequest, ListAccountsResponse, RegisterMemberRequest, RegisterMemberResponse,
    account_service_server::AccountService,
};
use tonic::{Request, Response, Status};

use super::Billing;
use crate::{
    domain::account::MemberDetails,
    store::accounts::{self, AccountRow},
};

/// Roles that see contact data whole.
const REVEAL: &[Role] = &[Role::Admin, Role::BillingAdmin];

fn message(row: AccountRow, principal: &Principal) -> Account {
    let own = principal.account_id.as_deref() == Some(row.account_id.as_str());
    let reveal = own || principal.has_any(REVEAL);
    Account {
        kind: if row.first_paid_at.is_some() {
            AccountKind::Customer
        } else {
            AccountKind::User
        } as i32,
        phone: if reveal { row.phone } else { pii::mask_phone(&row.phone) },
        email: if reveal { row.email } else { pii::mask_email(&row.email) },
        account_id: row.account_id,
        company_name: row.company_name,
        contact_name: row.contact_name,
        city: row.city,
        time_zone: row.time_zone,
        lead_id: row.lead_id.unwrap_or_default(),
        sold_by_person_id: row.sold_by_person_id.unwrap_or_default(),
        created_at: Some(to_proto(row.created_at)),
        contact_person_id: row.contact_person_id,
    }
}

#[tonic::async_trait]
impl AccountService for Billing {
    async fn register_member(
        &self,
        request: Request<RegisterMemberRequest>,
    ) -> Result<Response<RegisterMemberResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let details = MemberDetails::parse(
            &r.company_name,
            &r.contact_name,
            &r.phone,
            &r.email,
            &r.city,
            &r.time_zone,
        )?;
        let key = idempotency::Key::of(&principal.subject, "RegisterMember", &r.idempotency_key, r)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        if let Some(key) = &key
            && let Some(first) = key.replay(&mut tx, now).await?
        {
            return Ok(Response::new(first));
        }
        let id = uuid::Uuid::now_v7().to_string();
        accounts::insert(&mut tx, &id, &details, None, None, now).await?;
        let row = accounts::get_in(&mut tx, &id)
            .await?
            .ok_or_else(|| Error::not_found("account", &id))?;
        let response = RegisterMemberResponse {
            account: Some(message(row, principal)),
        };
        if let Some(key) = &key {
            key.record(&mut tx, &response).await?;
        }
        tx.commit().await?;
        Ok(Response::new(response))
    }

    async fn create_account_from_lead(
        &self,
        request: Request<CreateAccountFromLeadRequest>,
    ) -> Result<Response<CreateAccountFromLeadResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let lead_id = r.lead_id.trim();
        if lead_id.is_empty() {
            return Err(Error::invalid("lead_id", "is required").into());
        }
        let sold_by = r.sold_by_person_id.trim();
        if sold_by.is_empty() {
            return Err(Error::invalid("sold_by_person_id", "is required").into());
        }
        let details = MemberDetails::parse(&r.company_name, &r.contact_name, &r.phone, &r.email, &r.city, "")?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        let created = accounts::insert(
            &mut tx,
            &uuid::Uuid::now_v7().to_string(),
            &details,
            Some(lead_id),
            Some(sold_by),
            now,
        )
        .await?;
        let row = accounts::by_lead(&mut tx, lead_id)
            .await?
            .ok_or_else(|| Error::not_found("account for lead", lead_id))?;
        tx.commit().await?;
        Ok(Response::new(CreateAccountFromLeadResponse {
            account: Some(message(row, principal)),
            created,
        }))
    }

    async fn get_account(&self, request: Request<GetAccountRequest>) -> Result<Response<GetAccountResponse>, Status> {
        let principal = Principal::of(&request)?;
        let id = request.get_ref().account_id.trim();
        principal.may_act_for_account(id)?;
        let db = self.db.get()?;
        let row = accounts::get(db, id)
            .await?
            .ok_or_else(|| Error::not_found("account", id))?;
        Ok(Response::new(GetAccountResponse {
            account: Some(message(row, principal)),
        }))
    }

    async fn list_accounts(
        &self,
        request: Request<ListAccountsRequest>,
    ) -> Result<Response<ListAccountsResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let page = Page::parse(r.page_size, &r.page_token)?;
        let kind = match AccountKind::try_from(r.kind) {
            Ok(AccountKind::Unspecified) => "",
            Ok(AccountKind::User) => "USER",
            Ok(AccountKind::Customer) => "CUSTOMER",
            Err(_) => return Err(Error::invalid("kind", "unknown kind").into()),
        };
        let db = self.db.get()?;
        let filter = accounts::AccountFilter {
            kind,
            sold_by: r.sold_by_person_id.trim(),
            lead_id: r.lead_id.trim(),
        };
        let mut rows = accounts::list(db, &filter, &page).await?;
        let next_page_token = page.finish(&mut rows);
        Ok(Response::new(ListAccountsResponse {
            accounts: rows.into_iter().map(|row| message(row, principal)).collect(),
            next_page_token,
        }))
    }
}
