"""Customers in the admin. Edits (and tag deletions) go through customers.services so
customer.updated is published like any other change; a web-chat account's password hash is never shown."""
from django import forms
from django.contrib import admin
from django.db.models import Count

from .models import Customer, CustomerAccount, Tag
from .services import customer_publish, customer_update
from .tag_services import tag_delete

PROFILE_FIELDS = ("first_name", "last_name", "email", "phone")


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "color", "workspace", "customer_count", "created_at"]
    list_filter = ["workspace"]
    search_fields = ["name", "workspace__slug"]
    list_select_related = ["workspace"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(customer_total=Count("customers"))

    @admin.display(description="customers", ordering="customer_total")
    def customer_count(self, tag):
        return tag.customer_total

    def delete_model(self, request, obj):
        tag_delete(tag=obj)  # its customers' conversations drop its id; wearers are republished

    def delete_queryset(self, request, queryset):
        for tag in queryset:
            tag_delete(tag=tag)


class CustomerAdminForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = ["workspace", "source", "external_id", *PROFILE_FIELDS, "username", "profile_picture", "tags"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "tags" in self.fields:
            self.fields["tags"].queryset = Tag.objects.filter(workspace_id=self.instance.workspace_id)

    def clean(self):
        cleaned = super().clean()
        workspace = cleaned.get("workspace") or getattr(self.instance, "workspace", None)
        foreign = [tag.name for tag in cleaned.get("tags") or [] if workspace and tag.workspace_id != workspace.pk]
        if foreign:
            self.add_error("tags", f"Tags of another workspace: {', '.join(foreign)}")
        return cleaned


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerAdminForm
    list_display = ["id", "display_name", "username", "source", "workspace", "email", "phone",
                    "last_activity_at", "created_at"]
    list_filter = ["source", "workspace", "tags", "created_at"]
    search_fields = ["first_name", "last_name", "username", "email", "phone", "external_id"]
    list_select_related = ["workspace"]
    filter_horizontal = ["tags"]
    readonly_fields = ["created_at", "updated_at", "last_activity_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:  # identity of an existing customer is the platform's, not ours
            return [*self.readonly_fields, "workspace", "source", "external_id"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.save()
            return
        other = [name for name in form.changed_data if name not in PROFILE_FIELDS and name != "tags"]
        if other:
            obj.save(update_fields=other)
        data = {name: form.cleaned_data[name] for name in PROFILE_FIELDS if name in form.changed_data}
        if "tags" in form.changed_data:
            data["tag_ids"] = [tag.pk for tag in form.cleaned_data["tags"]]
        customer_update(customer=Customer.objects.get(pk=obj.pk), data=data)  # saves and publishes

    def save_related(self, request, form, formsets, change):
        if change:  # tags were set by customer_update
            for formset in formsets:
                self.save_formset(request, form, formset, change=change)
            return
        super().save_related(request, form, formsets, change)
        customer_publish(form.instance.pk, created=True)


class CustomerAccountAdminForm(forms.ModelForm):
    new_password = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current password.",
    )

    class Meta:
        model = CustomerAccount
        fields = ["customer", "workspace", "email", "phone"]

    def clean(self):
        cleaned = super().clean()
        customer, workspace = cleaned.get("customer"), cleaned.get("workspace")
        if customer and workspace and customer.workspace_id != workspace.pk:
            self.add_error("customer", "The customer belongs to another workspace.")
        if not self.instance.pk and not cleaned.get("new_password"):
            self.add_error("new_password", "A new account needs a password.")
        return cleaned

    def save(self, commit=True):
        account = super().save(commit=False)
        if self.cleaned_data.get("new_password"):
            account.set_password(self.cleaned_data["new_password"])
        if commit:
            account.save()
        return account


@admin.register(CustomerAccount)
class CustomerAccountAdmin(admin.ModelAdmin):
    form = CustomerAccountAdminForm
    list_display = ["id", "customer", "workspace", "email", "phone", "last_login", "created_at"]
    list_filter = ["workspace"]
    search_fields = ["email", "phone", "customer__first_name", "customer__last_name"]
    list_select_related = ["customer", "workspace"]
    raw_id_fields = ["customer"]
    readonly_fields = ["last_login", "created_at"]
