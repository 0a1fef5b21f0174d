# A Service Bus namespace with the topology's topics, queues and subscriptions (SQL filter
# rules translated from the courier filters), dead-lettering after max_receive_count
# deliveries and on expiry, and least-privilege SAS rules.

module "topology" {
  source        = "../topology"
  topology_file = var.topology_file
}

locals {
  topics        = module.topology.topics
  queues        = { for k, q in module.topology.queues : k => q if q.topic == null }
  subscriptions = { for k, q in module.topology.queues : k => q if q.topic != null }
  rule_sql      = module.topology.rule_sql
}

resource "azurerm_servicebus_namespace" "this" {
  name                = var.namespace_name
  location            = var.location
  resource_group_name = var.resource_group_name
  sku                 = var.sku # topics need Standard or Premium
  minimum_tls_version = "1.2"
  # courier authenticates with SAS connection strings; set false to allow Entra ID only.
  local_auth_enabled = var.local_auth_enabled
  tags               = var.tags
}

resource "azurerm_servicebus_topic" "this" {
  for_each = local.topics

  name                         = each.key
  namespace_id                 = azurerm_servicebus_namespace.this.id
  requires_duplicate_detection = each.value.fifo
  support_ordering             = each.value.fifo
}

resource "azurerm_servicebus_queue" "this" {
  for_each = local.queues

  name                                 = each.key
  namespace_id                         = azurerm_servicebus_namespace.this.id
  max_delivery_count                   = each.value.max_receive_count
  lock_duration                        = format("PT%dS", each.value.visibility_timeout_secs)
  dead_lettering_on_message_expiration = true
  requires_duplicate_detection         = each.value.fifo

  lifecycle {
    precondition {
      condition     = each.value.visibility_timeout_secs >= 5 && each.value.visibility_timeout_secs <= 300
      error_message = "Service Bus lock durations are 5 s to 5 min; queue ${each.key} asks for ${each.value.visibility_timeout_secs} s."
    }
  }
}

resource "azurerm_servicebus_subscription" "this" {
  for_each = local.subscriptions

  name                                      = each.value.subscription
  topic_id                                  = azurerm_servicebus_topic.this[each.value.topic].id
  max_delivery_count                        = each.value.max_receive_count
  lock_duration                             = format("PT%dS", each.value.visibility_timeout_secs)
  dead_lettering_on_message_expiration      = true
  dead_lettering_on_filter_evaluation_error = true

  lifecycle {
    precondition {
      condition     = each.value.visibility_timeout_secs >= 5 && each.value.visibility_timeout_secs <= 300
      error_message = "Service Bus lock durations are 5 s to 5 min; subscription ${each.key} asks for ${each.value.visibility_timeout_secs} s."
    }
  }
}

# Every subscription gets courier's rule, filtered or not: it admits a redrive addressed
# to this subscription (courier_to) and refuses those addressed to its siblings, which a
# catch-all $Default (1=1) would let through. The implicit $Default is removed once this
# rule exists; until then, right after creation, a subscription may briefly receive
# everything.
resource "azurerm_servicebus_subscription_rule" "filter" {
  for_each = local.subscriptions

  name            = "courier-filter"
  subscription_id = azurerm_servicebus_subscription.this[each.key].id
  filter_type     = "SqlFilter"
  sql_filter      = local.rule_sql[each.key]
}

# Publishers may only send; consumers may only listen, each on its own entity. (Service
# Bus has no subscription-level SAS rules: listening on a topic covers its subscriptions.)
resource "azurerm_servicebus_queue_authorization_rule" "publisher" {
  for_each = local.queues

  name     = "courier-publish"
  queue_id = azurerm_servicebus_queue.this[each.key].id
  listen   = false
  send     = true
  manage   = false
}

resource "azurerm_servicebus_topic_authorization_rule" "publisher" {
  for_each = local.topics

  name     = "courier-publish"
  topic_id = azurerm_servicebus_topic.this[each.key].id
  listen   = false
  send     = true
  manage   = false
}

resource "azurerm_servicebus_queue_authorization_rule" "consumer" {
  for_each = local.queues

  name     = "courier-consume"
  queue_id = azurerm_servicebus_queue.this[each.key].id
  listen   = true
  send     = false
  manage   = false
}

resource "azurerm_servicebus_topic_authorization_rule" "consumer" {
  for_each = local.topics

  name     = "courier-consume"
  topic_id = azurerm_servicebus_topic.this[each.key].id
  listen   = true
  send     = false
  manage   = false
}
