//! `AccountService`: free members and the accounts made from converted
//! leads (`app::accounts`). An account-scoped token (`account_id`) reads
//! only its own account; contact data is masked by `convert::account`.

use crate::domain::ids::{AccountId, LeadId, PersonId};
use tiejun_platform::{
    auth::Principal,
    error::Error,
    idempotency::{self, Key},
    paging::Page,
    stored::filter,
};
use tiejun_proto::billing::v1::{
    AccountKind, CreateAccountFromLeadRequest, CreateAccountFromLeadResponse, GetAccountRequest, GetAccountResponse,
    ListAccountsRequest, ListAccountsResponse, RegisterMemberRequest, RegisterMemberResponse,
    account_service_server::AccountService,
};

use super::Billing;
use crate::{
    app::accounts::{self as app, Converted},
    convert,
    domain::account::MemberDetails,
    store::accounts,
};

#[tiejun_platform::grpc_service(AccountService)]
impl Billing {
    async fn register_member(
        &self,
        principal: &Principal,
        r: &RegisterMemberRequest,
    ) -> Result<RegisterMemberResponse, Error> {
        let details = MemberDetails::parse(
            &r.company_name,
            &r.contact_name,
            &r.phone,
            &r.email,
            &r.city,
            &r.time_zone,
        )?;
        let key = Key::of(&principal.subject, "RegisterMember", &r.idempotency_key, r)?;
        let now = self.now();
        idempotency::transact(self.db.get()?, key.as_ref(), now, async |tx| {
            let row = app::register(tx, now, &details).await?;
            Ok(RegisterMemberResponse {
                account: Some(convert::account(row, principal)),
            })
        })
        .await
    }

    async fn create_account_from_lead(
        &self,
        principal: &Principal,
        r: &CreateAccountFromLeadRequest,
    ) -> Result<CreateAccountFromLeadResponse, Error> {
        let lead = Converted {
            lead_id: LeadId::required("lead_id", &r.lead_id)?,
            sold_by: PersonId::required("sold_by_person_id", &r.sold_by_person_id)?,
        };
        let details = MemberDetails::parse(&r.company_name, &r.contact_name, &r.phone, &r.email, &r.city, "")?;
        let now = self.now();
        idempotency::transact(self.db.get()?, None, now, async |tx| {
            let (row, created) = app::from_lead(tx, now, &lead, &details).await?;
            Ok(CreateAccountFromLeadResponse {
                account: Some(convert::account(row, principal)),
                created,
            })
        })
        .await
    }

    async fn get_account(&self, principal: &Principal, r: &GetAccountRequest) -> Result<GetAccountResponse, Error> {
        let id = AccountId::required("account_id", &r.account_id)?;
        principal.may_act_for_account(&id)?;
        let row = accounts::get(self.db.get()?, &id)
            .await?
            .ok_or_else(|| Error::missing(&id))?;
        Ok(GetAccountResponse {
            account: Some(convert::account(row, principal)),
        })
    }

    async fn list_accounts(
        &self,
        principal: &Principal,
        r: &ListAccountsRequest,
    ) -> Result<ListAccountsResponse, Error> {
        let page = Page::parse(r.page_size, &r.page_token)?;
        let filter = accounts::AccountFilter {
            kind: filter::<AccountKind>("kind", r.kind)?,
            sold_by: r.sold_by_person_id.trim(),
            lead_id: r.lead_id.trim(),
        };
        let mut rows = accounts::list(self.db.get()?, &filter, &page).await?;
        let next_page_token = page.finish(&mut rows);
        Ok(ListAccountsResponse {
            accounts: rows.into_iter().map(|row| convert::account(row, principal)).collect(),
            next_page_token,
        })
    }
}
