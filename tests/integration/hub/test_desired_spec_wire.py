"""The desired set's spec on the wire: JSON with exact integers to an agent that says it reads
it (the real agent does), a Struct to one that does not (an agent of an earlier release); both
carry the same document."""

from __future__ import annotations

import json

from gamefleet.v1 import fleet_pb2, fleet_pb2_grpc

from hub.core import documents
from tests.support.agent_sim import desired_spec

from .conftest import StartAgent
from .fleet_docs import fleet_document

KEY = ("games", "arena")


async def test_each_agent_gets_the_spec_as_it_reads_it(
    fleets: fleet_pb2_grpc.FleetServiceAsyncStub, start_agent: StartAgent
) -> None:
    new = await start_agent("eu-1", reads_spec_json=True)
    old = await start_agent("us-1")
    doc = fleet_document(placement={"clusters": [{"name": "eu-1"}, {"name": "us-1"}]})
    doc["spec"]["template"]["gameServerTemplate"]["spec"]["terminationGracePeriodSeconds"] = 30
    await fleets.ApplyFleet(
        fleet_pb2.ApplyFleetRequest(fleet=documents.from_document(doc, fleet_pb2.Fleet))
    )
    await new.wait_for(lambda: KEY in new.sets)
    await old.wait_for(lambda: KEY in old.sets)

    sent_json, sent_struct = new.sets[KEY], old.sets[KEY]
    assert sent_json.spec_json and not sent_json.HasField("spec")
    assert sent_struct.HasField("spec") and not sent_struct.spec_json
    as_json = json.loads(sent_json.spec_json)
    grace = as_json["gameServerTemplate"]["spec"]["terminationGracePeriodSeconds"]
    assert grace == 30 and isinstance(grace, int)
    without_replicas = [
        {k: v for k, v in desired_spec(s).items() if k != "replicas"}
        for s in (sent_json, sent_struct)
    ]
    assert without_replicas[0] == without_replicas[1]
