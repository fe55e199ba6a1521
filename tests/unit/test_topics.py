import re

import pytest

from lastmile import topics
from lastmile.errors import ConfigError


def test_partner_topic_names_follow_the_domain():
    assert topics.partner_topic("dhl-de", "delivery_tasks") == "partners.dhl-de.delivery_tasks"
    assert topics.inbox_topic("dhl-de") == "partners.dhl-de.inbox"
    assert topics.COORDINATION_TOPICS == ("coordination.colocations", "coordination.proposals",
                                          "coordination.eta", "coordination.dead_letters")


@pytest.mark.parametrize("partner", ["a", "A-b", "-ab", "ab_c", "a" * 33, "", "ab.c"])
def test_bad_partner_ids_are_rejected(partner):
    with pytest.raises(ConfigError):
        topics.partner_topic(partner, "delivery_tasks")


@pytest.mark.parametrize("partner", ["ab", "0x", "a" * 32, "dhl-de-2"])
def test_good_partner_ids_are_accepted(partner):
    assert topics.partner_of_topic(topics.partner_topic(partner, "vehicle_positions")) == partner


def test_unknown_stream_is_rejected():
    with pytest.raises(ConfigError):
        topics.partner_topic("dhl", "parcels")


def test_stream_pattern_matches_only_that_stream_of_valid_partners():
    pattern = re.compile(topics.stream_pattern("delivery_tasks"))
    assert pattern.fullmatch("partners.dhl-de.delivery_tasks")
    assert not pattern.fullmatch("partners.dhl-de.delivery_tasksX")
    assert not pattern.fullmatch("partners.dhl-de.vehicle_positions")
    assert not pattern.fullmatch("partners.Bad.delivery_tasks")
    assert not pattern.fullmatch("coordination.colocations")


def test_partner_of_topic_ignores_other_topics():
    assert topics.partner_of_topic("coordination.dead_letters") is None
    assert topics.partner_of_topic("partners.x.delivery_tasks") is None  # id too short
