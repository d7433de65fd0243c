"""The access layer, role by role: what each person can see and do."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from data_browser import access
from data_browser import datatypes as T
from data_browser.access import Anonymization as A
from data_browser.api import keys
from data_browser.models import ApiKey, Event, Membership, RoomParticipant
from tests.conftest import ROLES

pytestmark = pytest.mark.django_db


def visible_experiments(user, **kw):
    return set(access.experiments(user, **kw).values_list("public_id", flat=True))


def test_it_shows_owners_all_their_experiments(world):
    assert visible_experiments(world.user("owner")) == {
        "exp_research_001",
        "exp_solo_rating",
        "exp_pilot_2023",
    }


def test_it_shows_collaborators_only_experiments_they_belong_to(world):
    for role in ("collaborator", "viewer", "fullcollab", "aggcollab"):
        assert visible_experiments(world.user(role)) == {"exp_research_001"}


def test_it_shows_outsiders_only_their_own_lab(world):
    assert visible_experiments(world.user("outsider")) == {"exp_other_lab"}
    with pytest.raises(Http404):
        access.get_experiment(world.user("outsider"), "exp_research_001")


def test_it_lists_the_lab_to_lab_admins_but_shows_no_data(world):
    admin = world.user("labadmin")
    assert visible_experiments(admin) == set()
    assert visible_experiments(admin, action=access.LIST) == {
        "exp_research_001",
        "exp_solo_rating",
        "exp_pilot_2023",
    }
    assert not access.records(admin, T.EVENTS).exists()
    assert access.can_manage_access(admin, world.experiment)
    assert not access.can_manage_access(admin, world.other)


def test_it_lets_a_lab_admin_see_data_once_granted_a_membership(world):
    admin = world.user("labadmin")
    Membership.objects.create(user=admin, experiment=world.experiment)
    assert access.records(admin, T.EVENTS).filter(experiment=world.experiment).exists()


def test_it_shows_participants_only_their_own_records(world):
    user = world.user("participant")
    own = access.records(user, T.EVENTS)
    assert own.exists()
    assert set(own.values_list("participant_id", flat=True)) == {world.participant.pk}
    assert set(access.rooms(user).values_list("pk", flat=True)) == {world.room.pk}
    # Co-participants are listed (the views show them by code), nobody from other rooms.
    listed = access.room_participants(user)
    assert set(listed.values_list("room_id", flat=True)) == {world.room.pk}
    assert listed.count() == RoomParticipant.objects.filter(room=world.room).count()


def test_it_hides_everything_from_anonymous_and_inactive_users(world):
    assert not access.experiments(AnonymousUser()).exists()
    assert not access.records(AnonymousUser(), T.CHAT).exists()
    owner = world.user("owner")
    owner.is_active = False
    assert not access.records(owner, T.CHAT).exists()


@pytest.mark.parametrize(
    ("role", "modes"),
    [
        ("owner", {A.KEEP, A.REMOVE, A.AGGREGATE}),
        ("fullcollab", {A.KEEP, A.REMOVE, A.AGGREGATE}),
        ("collaborator", {A.REMOVE, A.AGGREGATE}),
        ("aggcollab", {A.AGGREGATE}),
        ("viewer", set()),
        ("labadmin", set()),
        ("participant", set()),
        ("outsider", set()),
    ],
)
def test_it_caps_exports_at_the_export_right(world, role, modes):
    user = world.user(role)
    assert set(access.allowed_anonymizations(user, world.experiment)) == modes
    for mode in A.values:
        assert access.can_export(user, world.experiment, mode) == (mode in modes)


@pytest.mark.parametrize(
    ("role", "identified", "delete", "manage"),
    [
        ("owner", True, True, True),
        ("fullcollab", True, False, False),
        ("collaborator", False, False, False),
        ("viewer", False, False, False),
        ("labadmin", False, False, True),
        ("participant", False, False, False),
    ],
)
def test_it_answers_identity_delete_and_manage(world, role, identified, delete, manage):
    user = world.user(role)
    assert access.sees_identifiers(user, world.experiment) is identified
    assert access.can_delete(user, world.experiment) is delete
    assert access.can_manage_access(user, world.experiment) is manage


def test_it_limits_api_keys_to_their_scopes_and_experiments(world):
    owner = world.user("owner")
    key = ApiKey.objects.create(
        user=owner,
        name="k",
        prefix="p1",
        last_four="abcd",
        key_hash="x",
        scopes=["read:events"],
    )
    assert access.records(owner, T.EVENTS, key=key).exists()
    assert not access.records(owner, T.CHAT, key=key).exists()
    key.experiments.add(world.solo)
    scoped = access.records(owner, T.EVENTS, key=key)
    assert set(scoped.values_list("experiment_id", flat=True)) == {world.solo.pk}


def test_it_cuts_a_key_off_when_its_owner_loses_the_membership(world):
    user = world.user("viewer")
    key = ApiKey.objects.create(
        user=user, name="k", prefix="p2", last_four="abcd", key_hash="x", scopes=["read:events"]
    )
    assert access.records(user, T.EVENTS, key=key).exists()
    Membership.objects.filter(user=user).delete()
    assert not access.records(user, T.EVENTS, key=key).exists()


def test_it_returns_404_for_rooms_and_participants_outside_the_scope(world):
    with pytest.raises(Http404):
        access.get_room(world.user("outsider"), world.room.public_id)
    other_room_participant = (
        RoomParticipant.objects.filter(room__experiment=world.experiment)
        .exclude(room=world.room)
        .select_related("room", "participant")
        .first()
    )
    with pytest.raises(Http404):
        access.get_room(world.user("participant"), other_room_participant.room.public_id)
    room = access.get_room(world.user("viewer"), world.room.public_id)
    rp = access.get_room_participant(world.user("viewer"), room, world.participant.public_id)
    assert rp.participant == world.participant
    assert Event.objects.filter(room=room).exists()


def found(user, experiment, reach) -> object:
    try:
        return access.get_experiment(user, experiment.public_id, reach=reach)
    except Http404:
        return None


@pytest.mark.parametrize("role", ROLES)
def test_a_reach_answers_as_the_access_layer_does(world, role):
    user = world.user(role)
    reach = access.Reach(user)
    for experiment in (world.experiment, world.solo, world.archived, world.other):
        assert reach.sees_identifiers(experiment) == access.sees_identifiers(user, experiment)
        assert found(user, experiment, reach) == found(user, experiment, None)
    for dt in T.DATA_TYPES:
        with_reach = access.records(user, dt, reach=reach).values_list("pk", flat=True)
        assert set(with_reach) == set(access.records(user, dt).values_list("pk", flat=True))


def test_a_reach_serves_only_the_user_and_key_it_was_read_for(world):
    owner = world.user("owner")
    key = ApiKey.objects.create(
        user=owner, name="k", prefix="p3", last_four="abcd", key_hash="x", scopes=["read:events"]
    )
    key.experiments.add(world.solo)
    reach = access.Reach(owner, key=key)
    assert set(reach.rights) == {world.solo.pk}
    assert not reach.sees_identifiers(world.experiment)
    with pytest.raises(ValueError, match="another user or key"):
        access.records(owner, T.EVENTS, reach=reach)
    with pytest.raises(ValueError, match="another user or key"):
        access.records(world.user("collaborator"), T.EVENTS, key=key, reach=reach)


def test_an_authenticated_key_knows_without_a_query_that_it_is_unrestricted(
    world, django_assert_num_queries
):
    _key, raw = keys.create_key(world.user("owner"), name="k", scopes=["read:events"])
    key = keys.authenticate(raw)
    with django_assert_num_queries(0):
        assert access.key_experiment_ids(key) == []
    key.experiments.add(world.solo)
    assert access.key_experiment_ids(key) == [world.solo.pk]
    restricted = keys.authenticate(raw)
    with django_assert_num_queries(1):
        assert access.key_experiment_ids(restricted) == [world.solo.pk]


def test_a_reach_finds_its_members_experiments_without_a_query(world, django_assert_num_queries):
    owner = world.user("owner")
    reach = access.Reach(owner)
    with django_assert_num_queries(0):
        assert (
            access.get_experiment(owner, world.experiment.public_id, reach=reach)
            == world.experiment
        )
    # Anyone else's experiment is still looked up, and still a 404.
    with pytest.raises(Http404):
        access.get_experiment(owner, world.other.public_id, reach=reach)
    # A participant's own experiment is no membership: looked up through their sessions.
    participant = world.user("participant")
    reach = access.Reach(participant)
    assert reach.experiments == {}
    assert (
        access.get_experiment(participant, world.experiment.public_id, reach=reach)
        == world.experiment
    )
