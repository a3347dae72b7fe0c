from django import forms

from release_portal.accounts.roles import Role


class InviteForm(forms.Form):
    email = forms.EmailField(
        label="Email address", help_text="They get a link to set their password."
    )
    role = forms.ChoiceField(choices=Role.choices)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
