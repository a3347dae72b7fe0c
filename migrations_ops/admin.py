from django.contrib import admin

from migrations_ops.models import Project, Target


class TargetInline(admin.TabularInline):
    model = Target
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "migrations_source", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [TargetInline]
