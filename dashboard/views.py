"""The admin's home page and the per-provider page (API.md section 10 scoping)."""

from django.contrib.auth import get_user_model
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from dashboard.charts import legend_marker, line_chart
from dashboard.selectors import (
    DEFAULT_PERIOD,
    METRICS,
    PERIODS,
    dashboard_summary,
    latest_problems,
    provider_states,
    queue_state,
    webhook_state,
)
from providers.models import SmtpProvider


def _scope(request: HttpRequest) -> tuple[list[int] | None, object | None]:
    """The accounts this viewer sees: an owner their own; a superuser all, or the one picked."""
    user = request.user
    if not user.is_superuser:
        return [user.pk], None
    picked = request.GET.get("account", "")
    if picked.isdigit():
        account = get_user_model().objects.filter(pk=int(picked)).first()
        if account is not None:
            return [account.pk], account
    return None, None


def _context(site, request: HttpRequest, *, provider: SmtpProvider | None) -> dict:
    accounts, picked = _scope(request)
    period = PERIODS.get(request.GET.get("period", ""), PERIODS[DEFAULT_PERIOD])
    now = timezone.now()
    provider_id = provider.pk if provider else None
    summary = dashboard_summary(accounts=accounts, period=period, provider_id=provider_id, now=now)
    labels = dict(METRICS)
    chart = line_chart(
        buckets=summary.series.buckets,
        values=summary.series.values,
        labels=labels,
        hourly=period.bucket == "hour",
    )
    rows = [
        {
            "bucket": bucket,
            "values": [summary.series.values[key][i] for key in summary.series.values],
        }
        for i, bucket in enumerate(summary.series.buckets)
    ]
    context = {
        **site.each_context(request),
        "title": f"{provider.name}: dashboard" if provider else "Dashboard",
        # The dashboard needs the width; the navigation bar has the same links.
        "is_nav_sidebar_enabled": False,
        "period": period,
        "periods": PERIODS.values(),
        "summary": summary,
        "chart_svg": chart.svg,
        "legend": [(label, legend_marker(shape, key)) for key, label, shape in chart.legend],
        "series_labels": [labels[key] for key in summary.series.values],
        "series_rows": rows,
        "providers": provider_states(accounts=accounts, provider_id=provider_id, now=now),
        "queue": None if provider else queue_state(accounts=accounts, now=now),
        "webhooks": None
        if provider
        else webhook_state(accounts=accounts, since=now - period.length),
        "problems": latest_problems(accounts=accounts, provider_id=provider_id),
        "provider": provider,
        "picked_account": picked,
        "accounts": (
            get_user_model().objects.order_by("username").only("id", "username")[:200]
            if request.user.is_superuser
            else None
        ),
    }
    return context


def dashboard(site, request: HttpRequest) -> HttpResponse:
    return TemplateResponse(request, "dashboard/index.html", _context(site, request, provider=None))


def provider_dashboard(site, request: HttpRequest, provider_id: int) -> HttpResponse:
    providers = SmtpProvider.objects.all()
    if not request.user.is_superuser:
        providers = providers.filter(account_id=request.user.pk)
    provider = providers.filter(pk=provider_id).first()
    if provider is None:
        raise Http404("No such provider.")
    return TemplateResponse(
        request, "dashboard/index.html", _context(site, request, provider=provider)
    )
