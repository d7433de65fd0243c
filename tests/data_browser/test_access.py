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
    return set(access.for_user(user).experiments(**kw).values_list("public_id", flat=True))


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
        access.for_user(world.user("outsider")).experiment("exp_research_001")


def test_it_lists_the_lab_to_lab_admins_but_shows_no_data(world):
    admin = world.user("labadmin")
    assert visible_experiments(admin) == set()
    assert visible_experiments(admin, action=access.LIST) == {
        "exp_research_001",
        "exp_solo_rating",
        "exp_pilot_2023",
    }
    assert not access.for_user(admin).records(T.EVENTS).exists()
    assert access.for_user(admin).can_manage(world.experiment)
    assert not access.for_user(admin).can_manage(world.other)


def test_it_lets_a_lab_admin_see_data_once_granted_a_membership(world):
    admin = world.user("labadmin")
    Membership.objects.create(user=admin, experiment=world.experiment)
    assert access.for_user(admin).records(T.EVENTS).filter(experiment=world.experiment).exists()


def test_it_shows_participants_only_their_own_records(world):
    user = world.user("participant")
    own = access.for_user(user).records(T.EVENTS)
    assert own.exists()
    assert set(own.values_list("participant_id", flat=True)) == {world.participant.pk}
    assert set(access.for_user(user).rooms().values_list("pk", flat=True)) == {world.room.pk}
    # Co-participants are listed (the views show them by code), nobody from other rooms.
    listed = access.for_user(user).room_participants()
    assert set(listed.values_list("room_id", flat=True)) == {world.room.pk}
    assert listed.count() == RoomParticipant.objects.filter(room=world.room).count()


def test_it_hides_everything_from_anonymous_and_inactive_users(world):
    assert not access.for_user(AnonymousUser()).experiments().exists()
    assert not access.for_user(AnonymousUser()).records(T.CHAT).exists()
    owner = world.user("owner")
    owner.is_active = False
    assert not access.for_user(owner).records(T.CHAT).exists()


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
    assert set(access.for_user(user).allowed_anonymizations(world.experiment)) == modes
    for mode in A.values:
        assert access.for_user(user).can_export(world.experiment, mode) == (mode in modes)


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
    assert access.for_user(user).sees_identifiers(world.experiment) is identified
    assert access.for_user(user).is_owner(world.experiment) is delete
    assert access.for_user(user).can_manage(world.experiment) is manage


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
    assert access.for_user(owner, key=key).records(T.EVENTS).exists()
    assert not access.for_user(owner, key=key).records(T.CHAT).exists()
    key.experiments.add(world.solo)
    scoped = access.for_user(owner, key=key).records(T.EVENTS)
    assert set(scoped.values_list("experiment_id", flat=True)) == {world.solo.pk}


def test_it_cuts_a_key_off_when_its_owner_loses_the_membership(world):
    user = world.user("viewer")
    key = ApiKey.objects.create(
        user=user, name="k", prefix="p2", last_four="abcd", key_hash="x", scopes=["read:events"]
    )
    assert access.for_user(user, key=key).records(T.EVENTS).exists()
    Membership.objects.filter(user=user).delete()
    assert not access.for_user(user, key=key).records(T.EVENTS).exists()


def test_it_returns_404_for_rooms_and_participants_outside_the_scope(world):
    with pytest.raises(Http404):
        access.for_user(world.user("outsider")).room(world.room.public_id)
    other_room_participant = (
        RoomParticipant.objects.filter(room__experiment=world.experiment)
        .exclude(room=world.room)
        .select_related("room", "participant")
        .first()
    )
    with pytest.raises(Http404):
        access.for_user(world.user("participant")).room(other_room_participant.room.public_id)
    room = access.for_user(world.user("viewer")).room(world.room_ref("viewer"))
    viewer = access.for_user(world.user("viewer"))
    code = viewer.ref(world.experiment, world.participant.public_id)
    assert code != world.participant.public_id
    rp = viewer.participant(code, room=room).room_participant
    assert rp.participant == world.participant
    # The viewer sees no identifiers: a raw participant id is a 404 like an unknown one.
    with pytest.raises(Http404):
        viewer.participant(world.participant.public_id, room=room)
    assert Event.objects.filter(room=room).exists()


def found(reader, experiment) -> object:
    try:
        return reader.experiment(experiment.public_id)
    except Http404:
        return None


@pytest.mark.parametrize("role", ROLES)
def test_an_access_object_answers_from_one_read_of_the_memberships(world, role):
    user = world.user(role)
    reader = access.for_user(user)
    for experiment in (world.experiment, world.solo, world.archived, world.other):
        fresh = access.for_user(user)
        assert reader.sees_identifiers(experiment) == fresh.sees_identifiers(experiment)
        assert found(reader, experiment) == found(fresh, experiment)
        expected = set(fresh.experiments().values_list("pk", flat=True))
        assert (experiment.pk in expected) == (found(reader, experiment) is not None)


def test_an_access_object_of_a_key_sees_only_the_keys_experiments(world):
    owner = world.user("owner")
    key = ApiKey.objects.create(
        user=owner, name="k", prefix="p3", last_four="abcd", key_hash="x", scopes=["read:events"]
    )
    key.experiments.add(world.solo)
    reader = access.for_user(owner, key=key)
    assert set(reader.memberships) == {world.solo.pk}
    assert not reader.sees_identifiers(world.experiment)
    # A key is its owner's: someone else holding it reads nothing.
    assert not access.for_user(world.user("collaborator"), key=key).records(T.EVENTS).exists()


def test_a_request_builds_its_access_object_once(world, rf):
    request = rf.get("/")
    request.user = world.user("owner")
    first = access.for_request(request)
    assert access.for_request(request) is first
    request.user = world.user("viewer")
    assert access.for_request(request) is not first


def test_an_authenticated_key_knows_without_a_query_that_it_is_unrestricted(
    world, django_assert_num_queries
):
    _key, raw = keys.create_key(world.user("owner"), name="k", scopes=["read:events"])
    key = keys.authenticate(raw)
    with django_assert_num_queries(0):
        assert access.key_experiment_ids(key) is None
    key.experiments.add(world.solo)
    assert access.key_experiment_ids(key) == [world.solo.pk]
    restricted = keys.authenticate(raw)
    with django_assert_num_queries(1):
        assert access.key_experiment_ids(restricted) == [world.solo.pk]


def test_a_key_stays_restricted_when_its_experiments_are_taken_away(world):
    owner = world.user("owner")
    _key, raw = keys.create_key(owner, name="k", scopes=["read:events"], experiments=[world.solo])
    key = keys.authenticate(raw)
    key.experiments.clear()
    assert access.key_experiment_ids(key) == []
    assert access.key_experiment_ids(keys.authenticate(raw)) == []
    assert access.for_user(owner, key=keys.authenticate(raw)).memberships == {}
    assert not access.for_user(owner, key=key).records(T.EVENTS).exists()


def test_an_access_object_finds_its_members_experiments_without_a_query(
    world, django_assert_num_queries
):
    owner = world.user("owner")
    reader = access.for_user(owner)
    assert reader.memberships  # read once
    with django_assert_num_queries(0):
        assert reader.experiment(world.experiment.public_id) == world.experiment
    # Anyone else's experiment is still looked up, and still a 404.
    with pytest.raises(Http404):
        reader.experiment(world.other.public_id)
    # A participant's own experiment is no membership: looked up through their sessions.
    participant = access.for_user(world.user("participant"))
    assert participant.memberships == {}
    assert participant.experiment(world.experiment.public_id) == world.experiment
