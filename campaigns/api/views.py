"""Integrator API of campaigns and journeys: thin views over the lifecycle, versions,
validation, simulation and transfer services.

    GET    /api/v1/campaigns                        list (?status=), cursor-paginated
    POST   /api/v1/campaigns                        create a draft: entry settings + graph
    GET    /api/v1/campaigns/{id}                   one, with the graph being edited
    PUT    /api/v1/campaigns/{id}                   entry settings + graph (PATCH: some)
    DELETE /api/v1/campaigns/{id}                   drafts only
    POST   /api/v1/campaigns/{id}/validate          {valid, problems: [{step, field, message}]}
    POST   /api/v1/campaigns/{id}/simulate          {profile} or {sample}: a dry run
    POST   /api/v1/campaigns/{id}/publish|pause|resume|archive|unschedule
    GET    /api/v1/campaigns/{id}/versions          versions with their step counts
    POST   /api/v1/campaigns/{id}/versions/{n}/move-enrollments   n → the current version
    GET    /api/v1/campaigns/{id}/enrollments       ?state= &step= &profile=, by cursor
    GET    /api/v1/campaigns/{id}/stats             per-step counts (?version=n)
    GET    /api/v1/campaigns/{id}/export            the campaign as a JSON attachment
    POST   /api/v1/campaigns/import                 a new draft from an export

Writing `graph` on a running or paused campaign saves version N+1 as a draft; publishing it
makes it current. Refusals: 400 with field errors (a graph's problems under
{"steps": {key: [messages]}}), 404 for an unknown campaign or version, 409 for an action the
campaign's status does not allow.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import ProtectedError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from campaigns import lifecycle, simulation, transfer, validation
from campaigns.api import reads
from campaigns.api.errors import Conflict, refused
from campaigns.api.serializers import (
    ANY_OBJECT,
    ENTRY_FIELDS,
    CampaignDetailSerializer,
    CampaignListSerializer,
    CampaignWriteSerializer,
    EnrollmentFilterSerializer,
    EnrollmentSerializer,
    MovedSerializer,
    PauseSerializer,
    PublishSerializer,
    SimulateRequestSerializer,
    StatsSerializer,
    StatusFilterSerializer,
    ValidationResultSerializer,
    VersionSerializer,
)
from campaigns.campaign_settings import campaign_settings_save
from campaigns.errors import CampaignError
from campaigns.graph import graph_to_json
from campaigns.models import Campaign, CampaignStatus
from campaigns.selectors import campaign_delivery_counts, campaigns_delivery_counts
from campaigns.versions import draft_of, draft_version, graph_of, graph_save, move_enrollments
from profiles.api.profiles import AmbiguousProfile, IdCursorPagination
from profiles.models import Profile
from profiles.selectors import AmbiguousReference, profile_by_reference

READ, WRITE = "campaigns:read", "campaigns:write"
CAMPAIGN = OpenApiResponse(CampaignDetailSerializer)
CONFLICT = OpenApiResponse(description="The campaign's status does not allow this.")


def _action_schema(description: str, request=None, response=CAMPAIGN) -> Any:
    return extend_schema(request=request, description=description,
                         responses={200: response, 400: OpenApiResponse(description="Refused, "
                                    "with field errors."), 404: None, 409: CONFLICT})


@extend_schema(tags=["campaigns"])
@extend_schema_view(
    list=extend_schema(parameters=[OpenApiParameter(
        "status", str, enum=CampaignStatus.values, description="Only campaigns in this status.")]),
    retrieve=extend_schema(responses={200: CampaignDetailSerializer}),
    create=extend_schema(request=CampaignWriteSerializer,
                         responses={201: CampaignDetailSerializer}),
    update=extend_schema(request=CampaignWriteSerializer,
                         responses={200: CampaignDetailSerializer, 409: CONFLICT}),
    partial_update=extend_schema(request=CampaignWriteSerializer,
                                 responses={200: CampaignDetailSerializer, 409: CONFLICT}),
    destroy=extend_schema(responses={204: None, 409: CONFLICT}),
)
class CampaignViewSet(viewsets.ModelViewSet):
    required_scopes = {"GET": READ, "POST": WRITE, "PUT": WRITE, "PATCH": WRITE, "DELETE": WRITE}
    queryset = Campaign.objects.select_related("current_version").prefetch_related(
        "extra_segments", "excluded_segments")
    serializer_class = CampaignListSerializer
    pagination_class = IdCursorPagination
    parser_classes = [JSONParser]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        campaigns = super().get_queryset()
        if self.action != "list":
            return campaigns
        filters = StatusFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data.get("status")
        return campaigns.filter(status=wanted) if wanted else campaigns

    def list(self, request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        counts = campaigns_delivery_counts(campaign_ids=[c.pk for c in page])
        serializer = CampaignListSerializer(page, many=True, context={"delivery_counts": counts})
        return self.get_paginated_response(serializer.data)

    def retrieve(self, request, pk: str) -> Response:
        return self._detail(self.get_object())

    def create(self, request) -> Response:
        return self._save(None, request.data, partial=False)

    def update(self, request, pk: str, partial: bool = False) -> Response:
        return self._save(self.get_object(), request.data, partial=partial)

    def destroy(self, request, pk: str) -> Response:
        campaign = self.get_object()
        try:
            # Conditional on the status, so a publish racing the delete wins or loses whole.
            deleted, _ = Campaign.objects.filter(pk=campaign.pk,
                                                 status=CampaignStatus.DRAFT).delete()
        except ProtectedError:
            raise Conflict("Other records refer to this campaign: archive it instead.") from None
        if not deleted:
            raise Conflict(f"A {campaign.get_status_display().lower()} campaign cannot be "
                           "deleted: archive it instead.")
        return Response(status=status.HTTP_204_NO_CONTENT)

    @_action_schema("The problems publishing would refuse, on the graph being edited (the "
                    "draft version, else the current one).", response=ValidationResultSerializer)
    @action(detail=True, methods=["post"], required_scopes={"POST": READ})
    def validate(self, request, pk: str) -> Response:
        campaign = self.get_object()
        _, graph = _edited_graph(campaign)
        problems = [{"step": p.step_key, "field": p.field, "message": p.message}
                    for p in validation.validate(campaign, graph)]
        return Response({"valid": not problems, "problems": problems})

    @_action_schema("A dry run of the graph being edited, sending nothing: counts per step and "
                    "exit, messages that would be sent or skipped and why; with `profile`, the "
                    "path that profile would take.", request=SimulateRequestSerializer,
                    response=OpenApiResponse(ANY_OBJECT))
    @action(detail=True, methods=["post"], required_scopes={"POST": READ})
    def simulate(self, request, pk: str) -> Response:
        campaign = self.get_object()
        payload = SimulateRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        version, _ = _edited_graph(campaign)
        profile = _profile(payload.validated_data)
        try:
            result = simulation.simulate(campaign=campaign, version=version, profile=profile,
                                         sample=payload.validated_data.get("sample"))
        except CampaignError as exc:
            raise refused(exc) from None
        return Response(result)

    @_action_schema("Validate and publish the graph being edited: a draft campaign becomes "
                    "scheduled or running; on a running or paused one the draft version becomes "
                    "current. 400 lists the problems under steps.{key}.",
                    request=PublishSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request, pk: str) -> Response:
        payload = PublishSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return self._transition(lifecycle.publish, _user(request),
                                at=payload.validated_data.get("at"))

    @_action_schema("Stop new sends at once; enrollments hold where they are.",
                    request=PauseSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk: str) -> Response:
        payload = PauseSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return self._transition(lifecycle.pause, reason=payload.validated_data["reason"])

    @_action_schema("Go on from where the enrollments were held, with no resends.")
    @action(detail=True, methods=["post"])
    def resume(self, request, pk: str) -> Response:
        return self._transition(lifecycle.resume)

    @_action_schema("A completed, paused or draft campaign leaves the lists for good (its "
                    "reports stay); a running one is paused first.")
    @action(detail=True, methods=["post"])
    def archive(self, request, pk: str) -> Response:
        return self._transition(lifecycle.archive)

    @_action_schema("A scheduled campaign that has not launched goes back to draft.")
    @action(detail=True, methods=["post"])
    def unschedule(self, request, pk: str) -> Response:
        return self._transition(lifecycle.unschedule)

    @extend_schema(responses={200: VersionSerializer(many=True)}, description="Every version, "
                   "oldest first; the unpublished one is the draft being edited.")
    @action(detail=True, methods=["get"], pagination_class=None)
    def versions(self, request, pk: str) -> Response:
        rows = reads.campaign_versions(campaign=self.get_object())
        return Response(VersionSerializer(rows, many=True).data)

    @_action_schema("Move the active enrollments of version n to the current version (those "
                    "whose step still exists there).", response=MovedSerializer)
    @action(detail=True, methods=["post"], url_path=r"versions/(?P<number>\d+)/move-enrollments")
    def move_enrollments(self, request, pk: str, number: str) -> Response:
        campaign = self.get_object()
        source = _version(campaign, number)
        if campaign.current_version is None:
            raise Conflict("The campaign has no published version to move enrollments to.")
        try:
            moved = move_enrollments(campaign, source, campaign.current_version)
        except CampaignError as exc:
            raise refused(exc) from None
        return Response({"moved": moved, "to_version": campaign.current_version.number})

    @extend_schema(parameters=[EnrollmentFilterSerializer],
                   responses={200: EnrollmentSerializer(many=True)},
                   description="The campaign's enrollments, newest first, by cursor.")
    @action(detail=True, methods=["get"])
    def enrollments(self, request, pk: str) -> Response:
        campaign = self.get_object()
        filters = EnrollmentFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(
            reads.campaign_enrollments(campaign=campaign, **filters.validated_data))
        return self.get_paginated_response(EnrollmentSerializer(page, many=True).data)

    @extend_schema(parameters=[OpenApiParameter("version", int, description="Count this "
                                                "version's steps (default: the current one).")],
                   responses={200: StatsSerializer, 404: None},
                   description="Per step of a version, as the designer shows them: entered, "
                   "waiting here, passed, ended; and the enrollments by state.")
    @action(detail=True, methods=["get"], pagination_class=None)
    def stats(self, request, pk: str) -> Response:
        campaign = self.get_object()
        version = _version(campaign, request.query_params.get("version"))
        return Response(reads.campaign_step_stats(campaign=campaign, version=version))

    @extend_schema(parameters=[OpenApiParameter("version", int, description="This version's "
                                                "graph (default: the current one, else the "
                                                "draft).")],
                   responses={200: OpenApiResponse(ANY_OBJECT), 404: None},
                   description="The campaign as JSON (entry settings, the segments and "
                   "templates it refers to, a version's graph), for review and version "
                   "control; POST it to /campaigns/import.")
    @action(detail=True, methods=["get"], pagination_class=None)
    def export(self, request, pk: str) -> Response:
        campaign = self.get_object()
        version = _version(campaign, request.query_params.get("version"))
        response = Response(transfer.export_campaign(campaign, version))
        response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}.json"'
        return response

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: CampaignDetailSerializer,
                                                  400: OpenApiResponse(description="Refused.")},
                   description="Create a new draft campaign from an export.")
    @action(detail=False, methods=["post"], url_path="import")
    def import_(self, request) -> Response:
        try:
            campaign = transfer.import_campaign(request.data, _user(request))
        except CampaignError as exc:
            raise refused(exc, status_conflict=False) from None
        return self._detail(Campaign.objects.get(pk=campaign.pk), status.HTTP_201_CREATED)

    # --- helpers ---

    def _save(self, campaign: Campaign | None, data: Any, *, partial: bool) -> Response:
        payload = CampaignWriteSerializer(campaign, data=data, partial=partial)
        payload.is_valid(raise_exception=True)
        values = dict(payload.validated_data)
        graph = values.pop("graph", None)
        user = _user(self.request)
        with transaction.atomic():
            try:
                saved = campaign_settings_save(
                    campaign=campaign, user=user, values={**_settings(campaign), **values})
            except CampaignError as exc:
                raise refused(exc) from None
            _graph_save(saved, graph, user, new=campaign is None)
        return self._detail(Campaign.objects.get(pk=saved.pk),
                            status.HTTP_201_CREATED if campaign is None else status.HTTP_200_OK)

    def _transition(self, change, *args: Any, **kwargs: Any) -> Response:
        campaign = self.get_object()
        try:
            change(campaign, *args, **kwargs)
        except CampaignError as exc:
            raise refused(exc) from None
        return self._detail(Campaign.objects.get(pk=campaign.pk))

    def _detail(self, campaign: Campaign, code: int = status.HTTP_200_OK) -> Response:
        version, graph = _edited_graph(campaign)
        context = {
            "delivery_counts": {campaign.pk: campaign_delivery_counts(campaign=campaign)},
            "graph": graph_to_json(graph),
            "draft_version": None if version is None or version.is_published
            else version.number,
        }
        return Response(CampaignDetailSerializer(campaign, context=context).data, status=code)


def _edited_graph(campaign: Campaign):
    """The version being edited (the draft, else the current one) and its graph."""
    version = draft_of(campaign) or campaign.current_version
    return version, graph_of(campaign, version)


def _version(campaign: Campaign, number: str | None):
    """The campaign's version `number` (None when not asked for); 404 when it has none."""
    if number is None:
        return None
    version = campaign.versions.filter(number=int(number)).first() if number.isdigit() \
        else None
    if version is None:
        raise NotFound(f"This campaign has no version {number}.")
    return version


def _graph_save(campaign: Campaign, graph: dict[str, Any] | None, user, *, new: bool) -> None:
    """Write the graph into the draft version (version N+1 on a running campaign); a new
    campaign gets its (empty) first version even without one."""
    if graph is None and not new:
        return
    try:
        version = draft_version(campaign, user)
    except CampaignError as exc:
        raise refused(exc) from None
    if graph is None:
        return
    try:
        graph_save(version, graph)
    except CampaignError as exc:
        # Whatever graph_save refuses is the payload's fault: a 400, never a conflict.
        raise refused(exc, field="graph", status_conflict=False) from None


def _settings(campaign: Campaign | None) -> dict[str, Any]:
    """A campaign's current entry settings, under what PATCH leaves out."""
    if campaign is None:
        return {}
    values = {name: getattr(campaign, name) for name in ENTRY_FIELDS
              if name not in ("extra_segments", "excluded_segments")}
    return {**values, "extra_segments": list(campaign.extra_segments.all()),
            "excluded_segments": list(campaign.excluded_segments.all())}


def _profile(data: dict[str, Any]) -> Profile | None:
    if "profile" not in data:
        return None
    try:
        return profile_by_reference(reference=data["profile"], by=data.get("by", ""))
    except Profile.DoesNotExist:
        raise ValidationError({"profile": ["No such profile."]}) from None
    except AmbiguousReference:
        raise AmbiguousProfile(f"{data['profile']} is one profile's id and another's "
                               "external_id: add \"by\": \"id\" or \"external_id\".") from None


def _user(request):
    """The person behind the request: the token's creator (a token has no user of its own)."""
    token = request.auth
    return getattr(token, "created_by", None) or (
        request.user if getattr(request.user, "pk", None) else None)
