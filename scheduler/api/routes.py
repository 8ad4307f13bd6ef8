"""The one Router the jobs API's endpoints register on (config.api adds it to the NinjaAPI)."""

from ninja import Router

router = Router()
