from django import template

from accounts.phones import format_phone

register = template.Library()

register.filter("phone", format_phone)
