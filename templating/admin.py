"""Templates in the admin: the same rules as the API, and a preview with variables."""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from mailpass.admin_tenancy import AccountScopedAdmin
from mailpass.errors import ValidationFailed
from templating.fields import MAX_VARIABLES_BYTES
from templating.models import Template
from templating.services import template_render, template_sources_check


class TemplateForm(forms.ModelForm):
    class Meta:
        model = Template
        fields = ("account", "name", "subject", "html", "text")

    def clean(self):
        cleaned = super().clean()
        subject = cleaned.get("subject") or ""
        if "\r" in subject or "\n" in subject:
            self.add_error("subject", "Must not contain line breaks (CR or LF).")
        try:
            template_sources_check(
                subject=subject, html=cleaned.get("html") or "", text=cleaned.get("text") or ""
            )
        except ValidationFailed as exc:
            for field, messages in exc.details.items():
                for message in messages:
                    self.add_error(field, message)
        return cleaned


class PreviewForm(forms.Form):
    variables = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        initial="{}",
        help_text="A JSON object, as the API's `variables`.",
    )

    def clean_variables(self):
        raw = self.cleaned_data["variables"]
        if len(raw.encode()) > MAX_VARIABLES_BYTES:
            raise forms.ValidationError(f"At most {MAX_VARIABLES_BYTES} bytes.")
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Must be a JSON object.")
        return value


@admin.register(Template)
class TemplateAdmin(AccountScopedAdmin):
    form = TemplateForm
    list_display = ("name", "account", "subject", "updated_at", "preview_link")
    list_select_related = ("account",)
    search_fields = ("name", "subject", "account__username")
    readonly_fields = ("created_at", "updated_at")

    @admin.display(description="preview")
    def preview_link(self, obj: Template) -> str:
        url = reverse("admin:templating_template_preview", args=[obj.pk])
        return format_html('<a href="{}">Preview</a>', url)

    def get_urls(self):
        preview = self.admin_site.admin_view(self.preview_view)
        return [
            path("<int:object_id>/preview/", preview, name="templating_template_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        # The admin's own queryset: an owner previews only what their list shows.
        template = self.get_queryset(request).filter(pk=object_id).first()
        if template is None:
            raise Http404("No such template.")
        if not self.has_view_or_change_permission(request, template):
            raise PermissionDenied
        form = PreviewForm(request.POST or None)
        rendered = error = None
        if request.method == "POST" and form.is_valid():
            try:
                rendered = template_render(
                    template=template, variables=form.cleaned_data["variables"]
                )
            except ValidationFailed as exc:
                error = exc.details
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Preview of {template.name}",
            "template_obj": template,
            "form": form,
            "rendered": rendered,
            "error": error,
        }
        return TemplateResponse(request, "admin/templating/template/preview.html", context)
