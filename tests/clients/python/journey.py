#!/usr/bin/env python3
"""A Python client of tiejun, generated from proto/ by proto/buf.gen.yaml,
through the gateway: a rep is hired and activated, a lead is created, the
rep claims it, follows up and converts it, and billing opens the customer's
account; on the way, refusals are read from their google.rpc details.

Needs: grpcio (the runtime), grpcio-status (google.rpc.Status out of a
call's trailers; it brings googleapis-common-protos, whose error_details_pb2
holds BadRequest, ResourceInfo, ErrorInfo and RetryInfo), and the generated
code on PYTHONPATH. Run by tests/suite/python_client.rs; by hand:

    cd proto && buf generate -o ../gen && cd ..
    PYTHONPATH=gen/python python3 tests/clients/python/journey.py \
        --target 127.0.0.1:50051 --admin-token "$ADMIN" --rep-token "$REP" --rep E9001
"""

import argparse
import sys
import time

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tiejun.billing.v1 import billing_pb2, billing_pb2_grpc
from tiejun.leads.v1 import leads_pb2, leads_pb2_grpc


def details(error: grpc.RpcError):
    """The google.rpc details of a refused call, unpacked by type."""
    status = rpc_status.from_call(error)
    assert status is not None, f"no google.rpc.Status on {error.code()}"
    found = {}
    for any_detail in status.details:
        for kind in (
            error_details_pb2.BadRequest,
            error_details_pb2.ResourceInfo,
            error_details_pb2.ErrorInfo,
        ):
            if any_detail.Is(kind.DESCRIPTOR):
                detail = kind()
                any_detail.Unpack(detail)
                found[kind.__name__] = detail
    return found


def refused(call, expected: grpc.StatusCode):
    try:
        call()
    except grpc.RpcError as error:
        assert error.code() == expected, f"{error.code()} (wanted {expected}): {error.details()}"
        return details(error)
    raise AssertionError(f"not refused (wanted {expected})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--rep-token", required=True)
    parser.add_argument("--rep", required=True)
    args = parser.parse_args()
    admin = [("authorization", f"Bearer {args.admin_token}")]
    rep = [("authorization", f"Bearer {args.rep_token}")]

    with grpc.insecure_channel(args.target) as channel:
        reps = leads_pb2_grpc.RepServiceStub(channel)
        leads = leads_pb2_grpc.LeadServiceStub(channel)
        accounts = billing_pb2_grpc.AccountServiceStub(channel)

        # A quota outside 30-50 is refused, and the detail names the field.
        bad = refused(
            lambda: reps.RegisterRep(
                leads_pb2.RegisterRepRequest(
                    person_id=args.rep, name="Py Rep", team="Py-1", city="Hangzhou", daily_quota=10
                ),
                metadata=admin,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        fields = [v.field for v in bad["BadRequest"].field_violations]
        assert fields == ["daily_quota"], fields
        print(f"INVALID_ARGUMENT BadRequest field={fields[0]}")

        reps.RegisterRep(
            leads_pb2.RegisterRepRequest(
                person_id=args.rep, name="Py Rep", team="Py-1", city="Hangzhou", daily_quota=40
            ),
            metadata=admin,
        )
        reps.ActivateRep(
            leads_pb2.ActivateRepRequest(person_id=args.rep, reason="python client test"), metadata=admin
        )
        lead_input = leads_pb2.LeadInput(
            company_name="Python Client Trading Co",
            contact_name="Ms Py",
            phone="13912345678",
            city="Hangzhou",
            score=80,
        )
        lead = leads.CreateLead(leads_pb2.CreateLeadRequest(lead=lead_input), metadata=admin).lead
        print(f"created lead {lead.lead_id} state={leads_pb2.LeadState.Name(lead.state)}")

        # The same lead again: ALREADY_EXISTS, naming the existing one.
        duplicate = refused(
            lambda: leads.CreateLead(leads_pb2.CreateLeadRequest(lead=lead_input), metadata=admin),
            grpc.StatusCode.ALREADY_EXISTS,
        )
        existing = duplicate["ResourceInfo"].resource_name
        assert existing == lead.lead_id, (existing, lead.lead_id)
        print(f"ALREADY_EXISTS ResourceInfo resource_name={existing}")

        claimed = leads.ClaimLead(leads_pb2.ClaimLeadRequest(lead_id=lead.lead_id), metadata=rep)
        print(f"claimed, {claimed.claims_left_today} claims left today")
        leads.RecordFollowUp(
            leads_pb2.RecordFollowUpRequest(
                lead_id=lead.lead_id, kind=leads_pb2.FOLLOW_UP_KIND_CALL, notes="wants TrustPass"
            ),
            metadata=rep,
        )
        converted = leads.ConvertLead(leads_pb2.ConvertLeadRequest(lead_id=lead.lead_id), metadata=rep).lead
        assert converted.state == leads_pb2.LEAD_STATE_CONVERTED, converted.state

        # LeadConverted reaches billing through the outbox: poll for the account.
        deadline = time.monotonic() + 30
        while True:
            listed = accounts.ListAccounts(
                billing_pb2.ListAccountsRequest(lead_id=lead.lead_id), metadata=admin
            ).accounts
            if listed or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(listed) == 1, f"no account for lead {lead.lead_id} within 30 s"
        account = listed[0]
        assert account.sold_by_person_id == args.rep, account.sold_by_person_id
        print(f"account {account.account_id} sold by {account.sold_by_person_id}")
    print("journey ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
