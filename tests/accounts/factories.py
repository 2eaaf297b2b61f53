"""factory_boy factories for accounts."""

import factory

from accounts.models import Contact, ContactImport
from tests.factories import StaffFactory


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    email = factory.Sequence(lambda n: f"contact{n}@example.com")
    name = factory.Sequence(lambda n: f"Contact {n}")
    company = "Example GmbH"


class ContactImportFactory(factory.django.DjangoModelFactory):
    """A stored import that skipped the upload checks, for files only the task can judge."""

    class Meta:
        model = ContactImport

    file = factory.django.FileField(filename="contacts.csv", data=b"email,name\nada@example.com,Ada\n")
    original_name = "contacts.csv"
    created_by = factory.SubFactory(StaffFactory)
