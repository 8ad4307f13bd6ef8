"""The three roles as groups (scheduler.shared.roles): "viewer", "operator", "admin", with their model
permissions. Existing accounts keep what they could do: staff (who could change everything on the dashboard)
become admins, everyone else viewers. Permissions of models that do not exist yet are granted after `migrate`
(roles.after_migrate), so this migration depends on no other app's."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from scheduler.shared import roles

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model("auth", "User")
    roles.sync_groups(Group, Permission)
    admin = Group.objects.get(name=roles.ADMIN)
    viewer = Group.objects.get(name=roles.VIEWER)
    in_a_role = Group.objects.filter(name__in=roles.ROLES)
    for user in User.objects.exclude(groups__in=in_a_role).only("pk", "is_staff"):
        user.groups.add(admin if user.is_staff else viewer)


def remove_roles(apps, schema_editor):
    from scheduler.shared import roles

    apps.get_model("auth", "Group").objects.filter(name__in=roles.ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("scheduler", "0017_field_names_translated"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
