"""factory-boy factories: users (alice, bob...), API keys, providers, messages."""

import factory
from django.contrib.auth import get_user_model

from accounts.services import api_key_create
from mail.identifiers import message_id_generate
from mail.models import Message, MessageStatus
from providers.models import Security, SmtpProvider


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")


class SuperUserFactory(UserFactory):
    """A staff superuser for admin tests (log in with ``client.force_login``)."""

    username = factory.Sequence(lambda n: f"admin{n}")
    is_staff = True
    is_superuser = True


def api_key_for(user, *, permissions: list[str] | None = None, is_test: bool = False) -> str:
    """A new key for the user; returns the plain key (the factory of keys is the service)."""
    return api_key_create(account=user, permissions=permissions, is_test=is_test).plain_key


class SmtpProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SmtpProvider
        skip_postgeneration_save = True

    account = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"provider {n}")
    kind = "smtp"
    host = "127.0.0.1"
    port = 2525
    security = Security.NONE
    username = ""
    from_email = "support@yourdomain.com"
    from_name = "Your App"
    timeout = 5.0
    is_active = True
    is_default = True

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        if extracted:
            obj.password = extracted
            if create:
                obj.save(update_fields=["password_encrypted"])


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    account = factory.SubFactory(UserFactory)
    provider = None
    message_id = factory.LazyFunction(message_id_generate)
    from_email = "support@yourdomain.com"
    to_email = "user@example.com"
    subject = "Order Confirmation"
    html = "<h1>Your order has been confirmed</h1>"
    text = "Your order has been confirmed"
    status = MessageStatus.SENT
