"""Game servers by CLUSTER/NAME; a bare name only when it is unambiguous."""

from __future__ import annotations

import pytest

from hub.core import errors, server_refs

PRESENT = [("eu-1", "arena-0"), ("us-1", "arena-0"), ("eu-1", "arena-1")]


def test_cluster_slash_name_and_unambiguous_bare_names_resolve() -> None:
    found = server_refs.resolve(["us-1/arena-0", "arena-1"], "", PRESENT, "names")
    assert (found.found, found.missing) == ([("us-1", "arena-0"), ("eu-1", "arena-1")], [])
    found = server_refs.resolve(["arena-0"], "eu-1", PRESENT, "names")
    assert found.found == [("eu-1", "arena-0")]


def test_a_bare_name_in_several_clusters_is_refused_listing_them() -> None:
    with pytest.raises(errors.ValidationError) as refused:
        server_refs.resolve(["arena-1", "arena-0"], "", PRESENT, "names")
    assert str(refused.value) == (
        'names[1]: "arena-0" is in 2 clusters: eu-1/arena-0, us-1/arena-0; '
        "give CLUSTER/NAME or a cluster"
    )


def test_missing_names_and_bad_ones() -> None:
    found = server_refs.resolve(["arena-9", "us-1/arena-1"], "", PRESENT, "names")
    assert found.missing == [("names[0]", "arena-9"), ("names[1]", "us-1/arena-1")]
    found = server_refs.resolve(["arena-1"], "us-1", PRESENT, "name", indexed=False)
    assert found.missing == [("name", "us-1/arena-1")]
    for bad in ("a/b/c", "/arena-0", "eu-1/"):
        with pytest.raises(errors.ValidationError, match=r"names\[0\]: .* is not NAME"):
            server_refs.resolve([bad], "", PRESENT, "names")
    with pytest.raises(errors.ValidationError, match="is not in cluster eu-1"):
        server_refs.resolve(["us-1/arena-0"], "eu-1", PRESENT, "names")
