//! `tiejun.leads.v1.LeadService`: each RPC authenticates its caller and hands
//! over to the module that owns the rule (intake, lifecycle, watch).

use tiejun_platform::auth::Principal;
use tiejun_proto::leads::v1::{
    ClaimLeadRequest, ClaimLeadResponse, CloseLeadRequest, CloseLeadResponse, ConvertLeadRequest, ConvertLeadResponse,
    CreateLeadRequest, CreateLeadResponse, GetLeadRequest, GetLeadResponse, ImportLeadsRequest, ImportLeadsResponse,
    KeepPrivateRequest, KeepPrivateResponse, ListLeadHistoryRequest, ListLeadHistoryResponse, ListLeadsRequest,
    ListLeadsResponse, ReassignLeadRequest, ReassignLeadResponse, RecordFollowUpRequest, RecordFollowUpResponse,
    ReleaseLeadRequest, ReleaseLeadResponse, RunDistributionRequest, RunDistributionResponse, RunReclaimSweepRequest,
    RunReclaimSweepResponse, WatchRepEventsRequest, WatchRepEventsResponse, lead_service_server::LeadService,
};
use tonic::{Request, Response, Status, Streaming, codegen::BoxStream};

use super::Leads;

#[tonic::async_trait]
impl LeadService for Leads {
    async fn create_lead(&self, request: Request<CreateLeadRequest>) -> Result<Response<CreateLeadResponse>, Status> {
        self.create_lead_rpc(request).await
    }

    async fn import_leads(
        &self,
        request: Request<Streaming<ImportLeadsRequest>>,
    ) -> Result<Response<ImportLeadsResponse>, Status> {
        self.import_leads_rpc(request).await
    }

    async fn get_lead(&self, request: Request<GetLeadRequest>) -> Result<Response<GetLeadResponse>, Status> {
        self.get_lead_rpc(request).await
    }

    async fn list_leads(&self, request: Request<ListLeadsRequest>) -> Result<Response<ListLeadsResponse>, Status> {
        self.list_leads_rpc(request).await
    }

    async fn run_distribution(
        &self,
        request: Request<RunDistributionRequest>,
    ) -> Result<Response<RunDistributionResponse>, Status> {
        Ok(Response::new(self.run_distribution_rpc(request.get_ref()).await?))
    }

    async fn claim_lead(&self, request: Request<ClaimLeadRequest>) -> Result<Response<ClaimLeadResponse>, Status> {
        Ok(Response::new(
            self.claim_rpc(Principal::of(&request)?, request.get_ref()).await?,
        ))
    }

    async fn record_follow_up(
        &self,
        request: Request<RecordFollowUpRequest>,
    ) -> Result<Response<RecordFollowUpResponse>, Status> {
        Ok(Response::new(
            self.follow_up_rpc(Principal::of(&request)?, request.get_ref()).await?,
        ))
    }

    async fn keep_private(
        &self,
        request: Request<KeepPrivateRequest>,
    ) -> Result<Response<KeepPrivateResponse>, Status> {
        Ok(Response::new(
            self.keep_private_rpc(Principal::of(&request)?, request.get_ref())
                .await?,
        ))
    }

    async fn release_lead(
        &self,
        request: Request<ReleaseLeadRequest>,
    ) -> Result<Response<ReleaseLeadResponse>, Status> {
        Ok(Response::new(
            self.release_rpc(Principal::of(&request)?, request.get_ref()).await?,
        ))
    }

    async fn convert_lead(
        &self,
        request: Request<ConvertLeadRequest>,
    ) -> Result<Response<ConvertLeadResponse>, Status> {
        Ok(Response::new(
            self.convert_rpc(Principal::of(&request)?, request.get_ref()).await?,
        ))
    }

    async fn close_lead(&self, request: Request<CloseLeadRequest>) -> Result<Response<CloseLeadResponse>, Status> {
        Ok(Response::new(
            self.close_rpc(Principal::of(&request)?, request.get_ref()).await?,
        ))
    }

    async fn reassign_lead(
        &self,
        request: Request<ReassignLeadRequest>,
    ) -> Result<Response<ReassignLeadResponse>, Status> {
        Ok(Response::new(
            self.reassign_rpc(Principal::of(&request)?, request.get_ref()).await?,
        ))
    }

    async fn run_reclaim_sweep(
        &self,
        request: Request<RunReclaimSweepRequest>,
    ) -> Result<Response<RunReclaimSweepResponse>, Status> {
        Ok(Response::new(self.run_sweep_rpc(request.get_ref()).await?))
    }

    async fn list_lead_history(
        &self,
        request: Request<ListLeadHistoryRequest>,
    ) -> Result<Response<ListLeadHistoryResponse>, Status> {
        self.list_lead_history_rpc(request).await
    }

    async fn watch_rep_events(
        &self,
        request: Request<WatchRepEventsRequest>,
    ) -> Result<Response<BoxStream<WatchRepEventsResponse>>, Status> {
        Ok(Response::new(
            self.watch_rpc(Principal::of(&request)?, request.get_ref()).await?,
        ))
    }
}
